"""The model's streamed text as JSON: where its root begins, and its value so far.

The root is a JSON array of questions, or (envelope mode) an object whose `questions` member
is that array. One opening fence line (```` ``` ```` or ```` ```json ````) may precede the root,
and its closing fence may follow it. Pure.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import Final

from pydantic_core import from_json


class StreamFormatError(ValueError):
    """The model's text is not one JSON value of the expected kind (SCHEMA_VALIDATION).

    ``offset`` is the character position in the whole streamed text where it went wrong.
    """

    def __init__(self, message: str, *, offset: int) -> None:
        super().__init__(f"{message} (at character {offset})")
        self.offset = offset


class FaultError(Exception):
    """A StreamFormatError plus the value that parsed before the fault."""

    def __init__(self, error: StreamFormatError, before: object = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.before = before


_FENCE: Final = "```"
_FENCE_LINE: Final = re.compile(r"```[ \t]*(?:json)?[ \t]*\r?", re.IGNORECASE)
_MAX_FENCE_LINE: Final = 64
_ERROR_AT: Final = re.compile(r"line (\d+) column (\d+)")


@dataclass(frozen=True)
class Root:
    opener: str  # "[" or "{"
    kind: str  # "array" or "object", for messages

    def start(self, text: str) -> tuple[int | None, bool]:
        """Where the root begins past whitespace and one fence line (None: not there yet),
        and whether the text is fenced."""
        pos = len(text) - len(text.lstrip())
        fenced = text.startswith(_FENCE, pos)
        if fenced:
            newline = text.find("\n", pos)
            if newline < 0:
                if len(text) - pos > _MAX_FENCE_LINE:
                    raise FaultError(_bad_fence(pos))
                return None, fenced
            if _FENCE_LINE.fullmatch(text, pos, newline) is None:
                raise FaultError(_bad_fence(pos))
            rest = text[newline + 1 :]
            pos = newline + 1 + len(rest) - len(rest.lstrip())
        if pos >= len(text) or (not fenced and _FENCE.startswith(text[pos:])):
            return None, fenced  # nothing yet, or what may become the opening fence
        if text[pos] != self.opener:
            message = f"expected a JSON {self.kind}, found {text[pos]!r}"
            raise FaultError(StreamFormatError(message, offset=pos))
        return pos, fenced

    def parse(self, text: str, *, partial: bool) -> object:
        """The root so far (partial) or whole (strict); None before it begins."""
        start, fenced = self.start(text)
        if start is None:
            if partial:
                return None
            message = f"the stream ended before the {self.kind} began"
            raise FaultError(StreamFormatError(message, offset=0))
        body = text[start:]
        if not partial and fenced:
            stripped = body.rstrip()
            if stripped.endswith(_FENCE):
                body = stripped[: -len(_FENCE)]
        try:
            return from_json(body, allow_partial=partial, allow_inf_nan=False)
        except ValueError as error:
            offset = start + _error_offset(body, str(error))
            before = None
            if partial and offset > start:
                with contextlib.suppress(ValueError):
                    before = from_json(text[start:offset], allow_partial=True)
            message = f"{self._problem(str(error), partial)}: {error}"
            raise FaultError(StreamFormatError(message, offset=offset), before) from None

    def _problem(self, error: str, partial: bool) -> str:
        if partial:
            return f"the stream is not one JSON {self.kind}"
        if error.startswith("EOF"):
            return f"the stream ended before the {self.kind} was closed"
        if error.startswith("trailing characters"):
            return f"unexpected text after the {self.kind}"
        return f"the stream did not end as one complete JSON {self.kind}"


class Nesting:
    """Where the streamed text stands, fed chunk by chunk: how deep in brackets, inside a
    string or not, and its last character outside strings and whitespace. It does not check
    the grammar (the partial parse does); it only says whether the text is between the items
    of the questions array (``array_depth``: 1 for a bare array, 2 in the envelope)."""

    def __init__(self, *, array_depth: int) -> None:
        self._array_depth = array_depth
        self._depth = 0
        self._in_string = False
        self._escaped = False
        self.last = ""

    def feed(self, chunk: str) -> None:
        depth, in_string, escaped, last = self._depth, self._in_string, self._escaped, self.last
        for char in chunk:
            if in_string:
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == '"':
                    in_string, last = False, char
            elif char == '"':
                in_string = True
            elif char in "{[":
                depth, last = depth + 1, char
            elif char in "}]":
                depth, last = depth - 1, char
            elif not char.isspace():
                last = char
        self._depth, self._in_string, self._escaped, self.last = depth, in_string, escaped, last

    @property
    def between_items(self) -> bool:
        """Outside any string and not inside an item (or past the array's end)."""
        return not self._in_string and self._depth <= self._array_depth


ARRAY: Final = Root("[", "array")
OBJECT: Final = Root("{", "object")


def _bad_fence(pos: int) -> StreamFormatError:
    return StreamFormatError("the opening fence is not ```json", offset=pos)


def _error_offset(text: str, message: str) -> int:
    """pydantic_core reports 'line L column C'; turn it into an index into ``text``."""
    match = _ERROR_AT.search(message)
    if match is None:
        return len(text)
    line, column = int(match.group(1)), int(match.group(2))
    start = 0
    for _ in range(line - 1):
        start = text.index("\n", start) + 1
    return min(len(text), start + max(column - 1, 0))
