"""The model's streamed JSON array, cut into finished, validated questions as they arrive.

The model streams one JSON array of question objects (docs/model-protocol.md) in pieces cut at
arbitrary positions; `StreamParser` hands out each item as soon as it is provably whole, so the
worker saves questions while the model is still writing. Pure: no I/O, no clocks, no SDKs.
"""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from dataclasses import dataclass
from typing import Final

from pydantic_core import from_json

from .questions import (
    QuestionDraft,
    Rejection,
    RejectReason,
    normalise_question_text,
    validate_item,
)


@dataclass(frozen=True, slots=True)
class AcceptedItem:
    index: int  # position of the item in the streamed array, from 0
    draft: QuestionDraft
    key: str  # normalise_question_text(draft.question), as added to the parser's `seen`


@dataclass(frozen=True, slots=True)
class RejectedItem:
    index: int
    rejection: Rejection

    @property
    def reason(self) -> RejectReason:
        return self.rejection.reason


ParsedItem = AcceptedItem | RejectedItem


class StreamFormatError(ValueError):
    """The model's text is not one JSON array (the caller reports SCHEMA_VALIDATION).

    ``offset`` is the character position in the whole streamed text where it went wrong.
    """

    def __init__(self, message: str, *, offset: int) -> None:
        super().__init__(f"{message} (at character {offset})")
        self.offset = offset


# One opening fence line ("```" or "```json") may precede the array; its "```" may follow it.
_FENCE: Final = "```"
_FENCE_LINE: Final = re.compile(r"```[ \t]*(?:json)?[ \t]*\r?", re.IGNORECASE)
_MAX_FENCE_LINE: Final = 64
_ERROR_AT: Final = re.compile(r"line (\d+) column (\d+)")


class StreamParser:
    """Feeds on the streamed text and returns each item once it is provably finished.

    The accumulated text is parsed with ``pydantic_core.from_json(..., allow_partial=True)``,
    which returns the array as far as it goes and leaves a half-written string out entirely.
    Item i is finished when the parsed array has an item i+1 (its first character arrived
    after the comma); the last item only when the caller says the stream ended complete
    (finish reason STOP) and the whole text parses strictly as one array. Finished items are
    validated (`validate_item`) and deduplicated against `seen` (normalised texts of questions
    already saved; accepted keys are added).

    Errors: a text that is not a JSON array raises StreamFormatError. Items finished before
    the fault are still returned, and the error is raised by the next call; after an error
    every call raises it again.
    """

    def __init__(self, *, seen: set[str] | None = None) -> None:
        self._seen = seen if seen is not None else set()
        self._text = ""
        self._emitted = 0  # items handed out so far
        self._error: StreamFormatError | None = None
        self._finished = False
        self._accepted = 0
        self._rejected: Counter[RejectReason] = Counter()

    # -- public API

    @property
    def seen(self) -> set[str]:
        return self._seen

    @property
    def accepted(self) -> int:
        return self._accepted

    @property
    def rejected(self) -> dict[RejectReason, int]:
        return dict(self._rejected)

    @property
    def rejected_total(self) -> int:
        return self._rejected.total()

    def feed(self, chunk: str) -> list[ParsedItem]:
        """Add the next piece of text; return the items it finished, in stream order."""
        self._check_usable()
        self._text += chunk
        try:
            items = self._parse(partial=True)
        except _FaultError as fault:
            self._error = fault.error
            out = self._emit(fault.items_before, last_is_finished=False)
            if not out:
                raise fault.error from None
            return out
        return self._emit(items, last_is_finished=False)

    def finish(self, *, complete: bool) -> list[ParsedItem]:
        """End the stream; return the last item if the stream ended complete.

        complete=True (finish reason STOP): the text must be exactly one JSON array (plus the
        optional fence), else StreamFormatError; its last item counts as finished.
        complete=False (MAX_TOKENS, SAFETY, no finish reason, a broken connection): the last
        item is dropped unemitted, even when its text looks whole.
        """
        self._check_usable()
        self._finished = True
        if not complete:
            return []
        try:
            items = self._parse(partial=False)
        except _FaultError as fault:
            self._error = fault.error
            raise fault.error from None
        return self._emit(items, last_is_finished=True)

    # -- internals

    def _check_usable(self) -> None:
        if self._error is not None:
            raise self._error
        if self._finished:
            raise RuntimeError("the stream parser has already finished")

    def _emit(self, items: list[object], *, last_is_finished: bool) -> list[ParsedItem]:
        finished = len(items) if last_is_finished else len(items) - 1
        out = [self._judge(i, items[i]) for i in range(self._emitted, finished)]
        self._emitted = max(self._emitted, finished)
        return out

    def _parse(self, *, partial: bool) -> list[object]:
        """The array so far (partial) or the whole array (strict); [] before it begins."""
        start = self._array_start()
        if start is None:
            if partial:
                return []
            raise _FaultError(
                StreamFormatError("the stream ended before the array began", offset=0)
            )
        body = self._text[start:]
        if not partial and self._fenced:
            stripped = body.rstrip()
            if stripped.endswith(_FENCE):
                body = stripped[: -len(_FENCE)]
        try:
            value = from_json(body, allow_partial=partial, allow_inf_nan=False)
        except ValueError as error:
            offset = start + _error_offset(body, str(error))
            if partial:
                message = "the stream is not one JSON array"
            elif str(error).startswith("EOF"):
                message = "the stream ended before the array was closed"
            elif str(error).startswith("trailing characters"):
                message = "unexpected text after the array"
            else:
                message = "the stream did not end as one complete JSON array"
            before: list[object] = []
            if partial and offset > start:
                with contextlib.suppress(ValueError):
                    before = list(from_json(self._text[start:offset], allow_partial=True))
            raise _FaultError(
                StreamFormatError(f"{message}: {error}", offset=offset), before
            ) from None
        if not isinstance(value, list):  # pragma: no cover - the text starts with "["
            raise _FaultError(StreamFormatError("expected a JSON array", offset=start))
        return value

    def _array_start(self) -> int | None:
        """Where the array's "[" is, past whitespace and one fence line; None if not there yet."""
        text = self._text
        pos = len(text) - len(text.lstrip())
        self._fenced = text.startswith(_FENCE, pos)
        if self._fenced:
            newline = text.find("\n", pos)
            if newline < 0:
                if len(text) - pos > _MAX_FENCE_LINE:
                    raise _FaultError(
                        StreamFormatError("the opening fence is not ```json", offset=pos)
                    )
                return None
            if _FENCE_LINE.fullmatch(text, pos, newline) is None:
                raise _FaultError(StreamFormatError("the opening fence is not ```json", offset=pos))
            rest = text[newline + 1 :]
            pos = newline + 1 + len(rest) - len(rest.lstrip())
        if pos >= len(text) or (not self._fenced and _FENCE.startswith(text[pos:])):
            return None  # nothing yet, or what may become the opening fence
        if text[pos] != "[":
            found = text[pos]
            raise _FaultError(
                StreamFormatError(f"expected a JSON array, found {found!r}", offset=pos)
            )
        return pos

    def _judge(self, index: int, value: object) -> ParsedItem:
        result = validate_item(value)
        if isinstance(result, QuestionDraft):
            key = normalise_question_text(result.question)
            if key not in self._seen:
                self._seen.add(key)
                self._accepted += 1
                return AcceptedItem(index=index, draft=result, key=key)
            result = Rejection(RejectReason.DUPLICATE_QUESTION, "question already seen")
        self._rejected[result.reason] += 1
        return RejectedItem(index=index, rejection=result)


class _FaultError(Exception):
    """A StreamFormatError plus the items that parsed before the fault."""

    def __init__(self, error: StreamFormatError, items_before: list[object] | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.items_before = items_before or []


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
