"""What one streamGenerateContent answer consists of, decided before a byte is sent.

The answer is the JSON array text of the chosen items, or the envelope object holding that array
after its plan (`{"topic", "count", "questions": [...]}`, whose header up to the array's `[` is
the first chunk), cut into text chunks (5..60 characters, seeded), possibly with a pause in the
middle, and an ending: a finish reason, no finish reason (truncated), an error event, or a
dropped connection. Faults count question items either way. Pure functions, so tests can check
the plan without a socket.
"""

from __future__ import annotations

import bisect
import dataclasses
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from .array_text import Envelope, Item, RawFragment, render, render_envelope
from .decks import Deck, Question, normalise
from .defects import apply_defects
from .faults import Fault

MIN_CHUNK = 5
MAX_CHUNK = 60
# What a model that loses its JSON mid-array writes (the `bad_json` fault).
BROKEN_ITEM = '{"question": "Which of these, "type": multiple-choice, "options": [True, False'

Ending = Literal["stop", "max_tokens", "safety", "truncate", "drop", "error_event", "blocked"]
# Faults that end the stream `afterQuestions` items (+ `tailChars`) in, and the ending each gives.
EARLY_ENDINGS: dict[str, Ending] = {
    "drop": "drop",
    "truncate": "truncate",
    "max_tokens": "max_tokens",
    "safety": "safety",
    "error_event": "error_event",
}


@dataclass(frozen=True)
class TextChunk:
    """`text` is the plan's text from `start` to `end`.

    `completes` lists the items whose closing brace falls in this chunk: they count as
    streamed once it is sent. `final` is set in "merged" mode, where the last text chunk
    carries the finish reason instead of a separate last event. `item` is the question item
    the chunk starts in (None: the envelope's header, or the text after the last item).
    """

    start: int
    end: int
    text: str
    completes: tuple[int, ...]
    final: bool = False
    item: int | None = None


@dataclass(frozen=True)
class Pause:
    seconds: float | None  # None: until the client disconnects


Step = TextChunk | Pause


@dataclass
class StreamPlan:
    items: list[Item]
    text: str
    ends: list[int]
    steps: list[Step] = field(default_factory=list)
    ending: Ending = "stop"
    finish_reason: str | None = "STOP"
    # Where the first item's text may start: just past the array's `[` in an envelope, else 0.
    body_start: int = 0

    def item_text(self, index: int) -> str:
        item = self.items[index]
        if isinstance(item, RawFragment):
            return item.text
        question = item.get("question")
        return question if isinstance(question, str) else ""


def select_questions(deck: Deck, existing: Sequence[str], count: int) -> list[Question]:
    """The next `count` deck questions whose text is not among `existing` (normalised)."""
    seen = {normalise(text) for text in existing}
    fresh = [q for q in deck.questions if normalise(q.question) not in seen]
    return fresh[:count]


def split(start: int, end: int, rng: random.Random) -> list[tuple[int, int]]:
    bounds: list[tuple[int, int]] = []
    position = start
    while position < end:
        step = min(end, position + rng.randint(MIN_CHUNK, MAX_CHUNK))
        bounds.append((position, step))
        position = step
    return bounds


def plan_stream(
    questions: Sequence[Question],
    deck: Deck,
    existing: Sequence[str],
    fault: Fault | None,
    rng: random.Random,
    *,
    merged_final: bool = False,
    envelope: Envelope | None = None,
) -> StreamPlan:
    """The plan of the answer; with `envelope`, the array is wrapped in the one-call object."""
    items = _items(questions, deck, existing, fault)
    if envelope is None:
        text, ends = render(items)
        plan = StreamPlan(items, text, ends)
    else:
        text, ends, body_start = render_envelope(envelope, items)
        plan = StreamPlan(items, text, ends, body_start=body_start)
    if fault is not None and fault.kind == "blocked_prompt":
        plan.ending, plan.finish_reason = "blocked", None
        return plan
    stop_at = len(text)
    boundaries, pause = [stop_at], None
    if fault is not None and fault.kind in EARLY_ENDINGS:
        cut = _cut(plan, fault.cut_after())
        boundaries = [cut, min(stop_at, cut + fault.tail_chars)]
        plan.ending = EARLY_ENDINGS[fault.kind]
        plan.finish_reason = {"max_tokens": "MAX_TOKENS", "safety": fault.finish_reason}.get(
            fault.kind
        )
    elif fault is not None and fault.kind == "stall" and fault.after_questions is not None:
        pause = Pause(fault.seconds)
        boundaries = [_cut(plan, fault.after_questions), stop_at]
    _add_chunks(plan, boundaries, pause, rng)
    if merged_final and plan.ending in ("stop", "max_tokens"):
        _merge_finish_reason(plan)
    return plan


def _items(
    questions: Sequence[Question], deck: Deck, existing: Sequence[str], fault: Fault | None
) -> list[Item]:
    items: list[Item] = [q.to_json() for q in questions]
    if fault is not None and fault.kind == "invalid_items":
        items = apply_defects(items, fault.items, deck, existing)
    if fault is not None and fault.kind == "bad_json":
        items = [*items[: fault.cut_after()], RawFragment(BROKEN_ITEM)]
    return items


def _cut(plan: StreamPlan, k: int) -> int:
    """The offset just past item k's closing brace (for none: where the items start)."""
    ends = plan.ends
    return ends[min(k, len(ends)) - 1] if k > 0 and ends else plan.body_start


def _add_chunks(
    plan: StreamPlan, boundaries: list[int], pause: Pause | None, rng: random.Random
) -> None:
    """Chunk the text up to each boundary in turn; `pause` goes after the first one. An
    envelope's header (up to the array's `[`) is one chunk of its own."""
    position = plan.body_start
    if position:
        plan.steps.append(TextChunk(0, position, plan.text[:position], ()))
    for number, boundary in enumerate(boundaries):
        for start, end in split(position, boundary, rng):
            completes = tuple(i for i, e in enumerate(plan.ends) if start < e <= end)
            item = _item_at(plan, start)
            plan.steps.append(TextChunk(start, end, plan.text[start:end], completes, item=item))
        position = max(position, boundary)
        if pause is not None and number == 0:
            plan.steps.append(pause)


def _merge_finish_reason(plan: StreamPlan) -> None:
    for index in range(len(plan.steps) - 1, -1, -1):
        step = plan.steps[index]
        if isinstance(step, TextChunk):
            plan.steps[index] = dataclasses.replace(step, final=True)
            return


def _item_at(plan: StreamPlan, offset: int) -> int | None:
    """The item whose text (its leading separator included) holds `offset`."""
    index = bisect.bisect_right(plan.ends, offset)
    return index if offset >= plan.body_start and index < len(plan.ends) else None
