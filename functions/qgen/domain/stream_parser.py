"""The model's streamed JSON array, cut into finished, validated questions as they arrive.

The model streams one JSON array of question objects (docs/model-protocol.md) in pieces cut at
arbitrary positions; `StreamParser` hands out each item as soon as it is provably whole, so the
worker saves questions while the model is still writing. Pure: no I/O, no clocks, no SDKs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Final

from .questions import (
    QuestionDraft,
    Rejection,
    RejectReason,
    normalise_question_text,
    validate_item,
)
from .stream_text import ARRAY, OBJECT, FaultError, Nesting, StreamFormatError


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


QUESTIONS_KEY: Final = "questions"
# What an item's text ends with once it is whole: an object or array closed, a string closed,
# or the comma after it.
_CLOSERS: Final = frozenset('}]",')


@dataclass(frozen=True, slots=True)
class StreamHeader:
    """What an envelope says before its questions: the plan, as the model wrote it."""

    topic: str | None
    count: int | None


class StreamParser:
    """Feeds on the streamed text and returns each item once it is provably finished.

    The accumulated text is parsed with ``pydantic_core.from_json(..., allow_partial=True)``,
    which returns the array as far as it goes and leaves a half-written string out entirely.
    Item i is finished when the parsed array has an item i+1 (its first character arrived
    after the comma), or as soon as the text is back between the array's items just after a
    closing brace (`Nesting`, which tracks strings and brackets). A partial parse alone cannot
    tell a closed object from a cut one, and waiting for the next item would hold each
    question that ends a chunk, and the job's last one, until the model's next event. At the
    end of the stream, a last item still open counts only when the caller says it ended
    complete (finish reason STOP) and the whole text parses strictly as one array. Finished
    items are validated (`validate_item`) and deduplicated against `seen` (normalised texts of
    questions already saved; accepted keys are added).

    Envelope mode (``envelope=True``): the root is an object whose ``questions`` member is
    that array, written after the plan (``topic``, ``count``); `header` gives the plan once the
    array has begun, when the members before it are whole.

    Errors: a text that is not a JSON array (object) raises StreamFormatError. Items finished before
    the fault are still returned, and the error is raised by the next call; after an error
    every call raises it again.
    """

    def __init__(self, *, seen: set[str] | None = None, envelope: bool = False) -> None:
        self._seen = seen if seen is not None else set()
        self._root = OBJECT if envelope else ARRAY
        self._header: dict[str, object] | None = None
        self._text = ""
        self._nesting = Nesting(array_depth=1 if self._root is ARRAY else 2)
        self._emitted = 0  # items handed out so far
        self._error: StreamFormatError | None = None
        self._finished = False
        self._accepted = 0
        self._rejected: Counter[RejectReason] = Counter()

    # -- public API

    @property
    def header(self) -> StreamHeader | None:
        """Envelope mode: the members before the questions, once the questions array began."""
        if self._header is None:
            return None
        topic, count = self._header.get("topic"), self._header.get("count")
        return StreamHeader(
            topic=topic if isinstance(topic, str) else None,
            count=count if isinstance(count, int) and not isinstance(count, bool) else None,
        )

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
        self._nesting.feed(chunk)
        try:
            items = self._parse(partial=True)
        except FaultError as fault:
            self._error = fault.error
            out = self._emit(_as_list(fault.before), last_is_finished=False)
            if not out:
                raise fault.error from None
            return out
        return self._emit(items, last_is_finished=self._last_is_closed(items))

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
        except FaultError as fault:
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

    def _last_is_closed(self, items: list[object]) -> bool:
        # Between items of the array (or past its end), just after a delimiter: the last item
        # is whole. A number or literal is whole only once a delimiter follows it.
        nesting = self._nesting
        return bool(items) and nesting.between_items and nesting.last in _CLOSERS

    def _parse(self, *, partial: bool) -> list[object]:
        """The items so far (partial) or all of them (strict); [] before the root begins."""
        try:
            return self._items(self._root.parse(self._text, partial=partial))
        except FaultError as fault:
            raise FaultError(fault.error, self._items(fault.before)) from None

    def _items(self, value: object) -> list[object]:
        if value is None:
            return []
        if self._root is ARRAY:
            return list(value) if isinstance(value, list) else []
        if not isinstance(value, dict):  # pragma: no cover - the text starts with "{"
            return []
        if QUESTIONS_KEY in value:
            # Every member before the array is whole once the array has begun.
            self._header = value
        questions = value.get(QUESTIONS_KEY, [])
        if not isinstance(questions, list):
            raise FaultError(StreamFormatError("questions is not an array", offset=0))
        return questions

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


def _as_list(value: object) -> list[object]:
    return value if isinstance(value, list) else []
