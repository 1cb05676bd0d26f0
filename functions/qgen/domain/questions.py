"""Quiz questions as the model writes them: item validation, duplicate keys, the stream parser.

The model streams one JSON array of question objects (docs/model-protocol.md) in pieces cut at
arbitrary positions. `StreamParser` turns those pieces into finished, validated items as soon as
each item is provably whole, so the worker can save questions while the model is still writing.

Pure: no I/O, no clocks, no SDKs.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Final

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from pydantic_core import from_json


class QuestionType(StrEnum):
    MULTIPLE_CHOICE = "multiple-choice"
    TRUE_FALSE = "true-false"


MULTIPLE_CHOICE_OPTION_COUNT: Final = 4
TRUE_FALSE_OPTIONS: Final = ("True", "False")


class QuestionDraft(BaseModel):
    """One validated question as the model wrote it (trimmed, options in canonical form)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    question: str
    type: QuestionType
    options: list[str]
    correct_answer: str
    explanation: str


class RejectReason(StrEnum):
    """Why a finished item was not accepted. Stable codes: they are counted and logged."""

    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    WRONG_FIELD_TYPE = "wrong_field_type"
    EMPTY_QUESTION = "empty_question"
    BAD_TYPE = "bad_type"
    WRONG_OPTION_COUNT = "wrong_option_count"
    EMPTY_OPTION = "empty_option"
    DUPLICATE_OPTIONS = "duplicate_options"
    BAD_TRUE_FALSE_OPTIONS = "bad_true_false_options"
    ANSWER_NOT_IN_OPTIONS = "answer_not_in_options"
    DUPLICATE_QUESTION = "duplicate_question"


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: RejectReason
    # For logs: names fields and counts, never echoes the item's text.
    detail: str


# ----------------------------------------------------------------------------- normalisation


def _fold(text: str) -> str:
    """Caseless, compatibility-normalised text with runs of whitespace collapsed to one space."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return " ".join(folded.split())


_TRAILING_PUNCTUATION: Final = ".?!;: "


def normalise_question_text(text: str) -> str:
    """The key two questions share when they are the same question.

    NFKC + casefold (so "É"/"é" and full-width forms match), whitespace collapsed, and trailing
    sentence punctuation (. ? ! ; :) stripped, so "What is X?" and "what is  x" collide.
    Nothing else is removed: inner punctuation and wording differences make different keys.
    """
    return _fold(text).rstrip(_TRAILING_PUNCTUATION)


# -------------------------------------------------------------------------------- validation

_FIELDS: Final = ("question", "type", "options", "correctAnswer", "explanation")
_STRING_FIELDS: Final = ("question", "type", "correctAnswer", "explanation")
_TYPES_BY_FOLDED: Final = {_fold(t.value): t for t in QuestionType}
_TRUE_FALSE_BY_FOLDED: Final = {_fold(o): o for o in TRUE_FALSE_OPTIONS}


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def validate_item(raw: object) -> QuestionDraft | Rejection:
    """Check one finished item against the protocol's rules; never raises.

    Keys other than the five fields are ignored. Strings are trimmed; the type and the
    true/false options are matched caselessly and stored in canonical form; the answer is
    matched caselessly against the options and stored as the option's text.
    """
    if not isinstance(raw, dict):
        return Rejection(RejectReason.NOT_AN_OBJECT, f"item is a {_json_kind(raw)}")
    missing = [name for name in _FIELDS if name not in raw]
    if missing:
        return Rejection(RejectReason.MISSING_FIELD, "missing " + ", ".join(missing))
    for name in _STRING_FIELDS:
        if not isinstance(raw[name], str):
            kind = _json_kind(raw[name])
            return Rejection(RejectReason.WRONG_FIELD_TYPE, f"{name} is a {kind}, not a string")
    raw_options = raw["options"]
    if not isinstance(raw_options, list) or not all(isinstance(o, str) for o in raw_options):
        return Rejection(RejectReason.WRONG_FIELD_TYPE, "options is not an array of strings")

    question: str = raw["question"].strip()
    if not normalise_question_text(question):
        return Rejection(RejectReason.EMPTY_QUESTION, "question has no text")
    question_type = _TYPES_BY_FOLDED.get(_fold(raw["type"]))
    if question_type is None:
        return Rejection(RejectReason.BAD_TYPE, "type is not multiple-choice or true-false")

    options_or_rejection = (
        _multiple_choice_options(raw_options)
        if question_type is QuestionType.MULTIPLE_CHOICE
        else _true_false_options(raw_options)
    )
    if isinstance(options_or_rejection, Rejection):
        return options_or_rejection
    options = options_or_rejection

    by_folded = {_fold(option): option for option in options}
    answer = by_folded.get(_fold(raw["correctAnswer"]))
    if answer is None:
        return Rejection(RejectReason.ANSWER_NOT_IN_OPTIONS, "correctAnswer is not an option")

    return QuestionDraft(
        question=question,
        type=question_type,
        options=options,
        correct_answer=answer,
        explanation=raw["explanation"].strip(),
    )


def _multiple_choice_options(raw_options: list[str]) -> list[str] | Rejection:
    if len(raw_options) != MULTIPLE_CHOICE_OPTION_COUNT:
        return Rejection(
            RejectReason.WRONG_OPTION_COUNT,
            f"{len(raw_options)} options, expected {MULTIPLE_CHOICE_OPTION_COUNT}",
        )
    options = [option.strip() for option in raw_options]
    if not all(options):
        return Rejection(RejectReason.EMPTY_OPTION, "an option is empty")
    if len({_fold(option) for option in options}) != len(options):
        return Rejection(RejectReason.DUPLICATE_OPTIONS, "options are not distinct")
    return options


def _true_false_options(raw_options: list[str]) -> list[str] | Rejection:
    folded = [_fold(option) for option in raw_options]
    if sorted(folded) != sorted(_TRUE_FALSE_BY_FOLDED):
        return Rejection(RejectReason.BAD_TRUE_FALSE_OPTIONS, 'options are not ["True", "False"]')
    return list(TRUE_FALSE_OPTIONS)


# ---------------------------------------------------------------------------- stream parsing


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


class _Phase(Enum):
    PREAMBLE = "preamble"  # before the array's "[" (whitespace and one ```json fence allowed)
    FIRST = "first"  # right after "[": a value or "]"
    NEXT = "next"  # right after ",": a value
    VALUE = "value"  # inside an item
    AFTER_VALUE = "after_value"  # an item ended: "," or "]"
    CLOSED = "closed"  # after "]": whitespace and the fence's closing ``` only
    FAILED = "failed"
    FINISHED = "finished"


_NON_WS: Final = re.compile(r"[^ \t\r\n]")
_STRING_STOP: Final = re.compile(r'["\\]')
_CONTAINER_STOP: Final = re.compile(r'["\[\]{}]')
_SCALAR_END: Final = re.compile(r'[ \t\r\n,:\[\]{}"]')
_CLOSER: Final = {"{": "}", "[": "]"}
_FENCE: Final = "```"
_FENCE_LINE: Final = re.compile(r"```[ \t]*(?:json)?[ \t]*\r?", re.IGNORECASE)
_MAX_FENCE_LINE: Final = 64


class StreamParser:
    """Feeds on the streamed text and returns each item once it is provably finished.

    Item i is finished when item i+1 has begun (its first character arrived after the comma),
    or, for the last item, when the caller says the stream ended complete (finish reason STOP)
    and the array was closed. Finished items are validated (`validate_item`) and deduplicated
    against `seen` (normalised texts of questions already saved; accepted keys are added).

    The text is scanned once (strings, escapes and bracket depth are tracked across chunks),
    and each item is parsed strictly with pydantic_core only when its text is whole, so cost
    is linear in the stream and a half-written item can never be parsed, let alone emitted.

    Errors: a text that is not a JSON array raises StreamFormatError. If the same chunk also
    finished items, `feed` returns them and the error is raised by the next call instead, so
    no finished item is lost. After an error every call raises it again.
    """

    def __init__(self, *, seen: set[str] | None = None) -> None:
        self._seen = seen if seen is not None else set()
        self._buf = ""  # the text from the first character still needed
        self._dropped = 0  # characters of the stream before _buf
        self._pos = 0  # scan position in _buf
        self._phase = _Phase.PREAMBLE
        self._fenced = False
        self._fence_closed = False
        # The item being scanned.
        self._start = 0
        self._stack: list[str] = []
        self._in_string = False
        self._scalar = False
        self._index = 0  # index of the item being scanned (or next to begin)
        self._value: object = None  # the item just scanned, parsed
        # A whole item waiting for the next one to begin (or, if last, for finish()).
        self._pending: tuple[int, object] | None = None
        self._error: StreamFormatError | None = None
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
        self._buf += chunk
        out: list[ParsedItem] = []
        try:
            self._scan(out)
        except StreamFormatError as error:
            self._error = error
            self._phase = _Phase.FAILED
            if not out:
                raise
        self._compact()
        return out

    def finish(self, *, complete: bool) -> list[ParsedItem]:
        """End the stream; return the last item if the stream ended complete.

        complete=True (finish reason STOP): the array must have been closed, else
        StreamFormatError; the last item counts as finished. complete=False (MAX_TOKENS,
        SAFETY, no finish reason, a broken connection): the last item is dropped unemitted,
        even when its text looks whole, and no format error is raised for the missing end.
        """
        self._check_usable()
        phase, pending = self._phase, self._pending
        self._phase, self._pending = _Phase.FINISHED, None
        if not complete:
            return []
        if phase is not _Phase.CLOSED:
            error = StreamFormatError(
                "the stream ended before the array was closed",
                offset=self._dropped + len(self._buf),
            )
            self._error = error
            raise error
        return [] if pending is None else [self._judge(*pending)]

    # -- internals

    def _check_usable(self) -> None:
        if self._error is not None:
            raise self._error
        if self._phase is _Phase.FINISHED:
            raise RuntimeError("the stream parser has already finished")

    def _fail(self, message: str, pos: int) -> StreamFormatError:
        return StreamFormatError(message, offset=self._dropped + pos)

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

    def _compact(self) -> None:
        """Forget text no longer needed: everything before the item in progress."""
        cut = self._start if self._phase is _Phase.VALUE else self._pos
        if cut > 0:
            self._buf = self._buf[cut:]
            self._dropped += cut
            self._pos -= cut
            self._start = 0  # the item in progress, if any, now begins the buffer

    def _scan(self, out: list[ParsedItem]) -> None:
        buf = self._buf
        n = len(buf)
        while self._pos < n:
            if self._phase is _Phase.VALUE:
                if not self._scan_value(buf):
                    return
                continue
            match = _NON_WS.search(buf, self._pos)
            if match is None:
                self._pos = n
                return
            pos = self._pos = match.start()
            char = buf[pos]
            if self._phase is _Phase.PREAMBLE:
                if not self._scan_preamble(buf, pos):
                    return
            elif self._phase in (_Phase.FIRST, _Phase.NEXT):
                if char == "]" and self._phase is _Phase.FIRST:
                    self._phase = _Phase.CLOSED
                    self._pos = pos + 1
                elif char in ",]":
                    raise self._fail(f"expected an item, found {char!r}", pos)
                else:
                    if self._pending is not None:
                        out.append(self._judge(*self._pending))
                        self._pending = None
                    self._begin_value(char, pos)
            elif self._phase is _Phase.AFTER_VALUE:
                if char not in ",]":
                    raise self._fail(f"expected ',' or ']' after an item, found {char!r}", pos)
                self._pending = (self._index, self._value)
                self._index += 1
                self._value = None
                self._phase = _Phase.NEXT if char == "," else _Phase.CLOSED
                self._pos = pos + 1
            elif not self._scan_closed(buf, pos):  # _Phase.CLOSED
                return

    def _scan_preamble(self, buf: str, pos: int) -> bool:
        """Before the array. Returns False when more text is needed."""
        char = buf[pos]
        if char == "[":
            self._phase = _Phase.FIRST
            self._pos = pos + 1
            return True
        if char != "`" or self._fenced:
            raise self._fail(f"expected a JSON array, found {char!r}", pos)
        newline = buf.find("\n", pos)
        if newline < 0:
            if len(buf) - pos > _MAX_FENCE_LINE:
                raise self._fail("the opening code fence is not ```json", pos)
            return False
        if _FENCE_LINE.fullmatch(buf, pos, newline) is None:
            raise self._fail("the opening code fence is not ```json", pos)
        self._fenced = True
        self._pos = newline + 1
        return True

    def _scan_closed(self, buf: str, pos: int) -> bool:
        """After the array. Returns False when more text is needed."""
        if self._fenced and not self._fence_closed and buf[pos] == "`":
            tail = buf[pos : pos + len(_FENCE)]
            if tail == _FENCE:
                self._fence_closed = True
                self._pos = pos + len(_FENCE)
                return True
            if _FENCE.startswith(tail) and pos + len(tail) == len(buf):
                return False
        raise self._fail("unexpected text after the array", pos)

    def _begin_value(self, char: str, pos: int) -> None:
        self._phase = _Phase.VALUE
        self._start = pos
        self._stack.clear()
        self._in_string = char == '"'
        self._scalar = char not in '"[{'
        if char in _CLOSER:
            self._stack.append(_CLOSER[char])
        self._pos = pos if self._scalar else pos + 1

    def _scan_value(self, buf: str) -> bool:
        """Inside an item. Returns True when the item ended, False when more text is needed."""
        pos, n, stack = self._pos, len(buf), self._stack
        while pos < n:
            if self._in_string:
                match = _STRING_STOP.search(buf, pos)
                if match is None:
                    break
                pos = match.start()
                if buf[pos] == "\\":
                    if pos + 1 == n:  # the escaped character has not arrived yet
                        break
                    pos += 2
                    continue
                self._in_string = False
                pos += 1
                if not stack:
                    return self._end_value(buf, pos)
            elif self._scalar:
                match = _SCALAR_END.search(buf, pos)
                if match is None:  # a number or literal may still grow
                    break
                return self._end_value(buf, match.start())
            else:
                match = _CONTAINER_STOP.search(buf, pos)
                if match is None:
                    break
                pos = match.start()
                char = buf[pos]
                pos += 1
                if char == '"':
                    self._in_string = True
                elif char in _CLOSER:
                    stack.append(_CLOSER[char])
                elif stack.pop() != char:
                    raise self._fail(f"mismatched {char!r}", pos - 1)
                elif not stack:
                    return self._end_value(buf, pos)
        self._pos = pos
        return False

    def _end_value(self, buf: str, end: int) -> bool:
        text = buf[self._start : end]
        try:
            self._value = from_json(text, allow_inf_nan=False)
        except ValueError as error:
            raise self._fail(
                f"item {self._index} is not valid JSON: {error}", self._start
            ) from None
        self._phase = _Phase.AFTER_VALUE
        self._pos = end
        return True
