"""What one streamGenerateContent answer consists of, decided before a byte is sent.

The answer is the JSON array text of the chosen items, cut into text chunks (5..60 characters,
seeded), possibly with a pause in the middle, and an ending: a finish reason, no finish reason
(truncated), an error event, or a dropped connection. Pure functions, so tests can check the
plan without a socket.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from .decks import Deck, Question, normalise
from .faults import Fault, InvalidItem

MIN_CHUNK = 5
MAX_CHUNK = 60
# What a model that loses its JSON mid-array writes (the `bad_json` fault).
BROKEN_ITEM = '{"question": "Which of these, "type": multiple-choice, "options": [True, False'

Ending = Literal["stop", "max_tokens", "safety", "truncate", "drop", "error_event", "blocked"]


@dataclass(frozen=True)
class RawFragment:
    """Text placed in the array verbatim (not valid JSON)."""

    text: str


Item = dict[str, Any] | RawFragment


@dataclass(frozen=True)
class TextChunk:
    start: int
    end: int
    text: str
    # Items whose last character (the closing brace) is in this chunk.
    completes: tuple[int, ...]
    # In "merged" mode the last text chunk carries the finish reason itself.
    final: bool = False


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


def render(items: Sequence[Item]) -> tuple[str, list[int]]:
    """The array text (one item per line) and, per item, the offset just past its last char."""
    if not items:
        return "[]", []
    text = "["
    ends: list[int] = []
    for index, item in enumerate(items):
        text += "\n  " if index == 0 else ",\n  "
        text += item.text if isinstance(item, RawFragment) else json.dumps(item, ensure_ascii=False)
        ends.append(len(text))
    return text + "\n]", ends


def split(start: int, end: int, rng: random.Random) -> list[tuple[int, int]]:
    bounds: list[tuple[int, int]] = []
    position = start
    while position < end:
        step = min(end, position + rng.randint(MIN_CHUNK, MAX_CHUNK))
        bounds.append((position, step))
        position = step
    return bounds


def make_defective(
    item: dict[str, Any],
    defect: str,
    earlier: Sequence[Item],
    repeat: dict[str, Any] | None,
) -> Item:
    """A copy of `item` broken as `defect` says (faults.DEFECTS)."""
    broken = copy.deepcopy(item)
    options: list[str] = broken["options"]
    correct: str = broken["correctAnswer"]
    multiple = broken["type"] == "multiple-choice"
    if defect == "three_options":
        if multiple:
            options.remove(next(o for o in options if o != correct))
        else:
            options.append("Maybe")
    elif defect == "answer_not_in_options":
        broken["correctAnswer"] = "None of the above" if multiple else "Maybe"
    elif defect == "empty_question":
        broken["question"] = ""
    elif defect == "duplicate_options":
        if multiple:
            wrong = [i for i, o in enumerate(options) if o != correct]
            options[wrong[1]] = options[wrong[0]]
        else:
            broken["options"] = ["True", "True"]
    elif defect == "bad_type":
        broken["type"] = "short-answer"
    elif defect == "missing_answer":
        del broken["correctAnswer"]
    elif defect == "bad_true_false":
        if multiple:
            broken["type"] = "true-false"
        else:
            broken["options"] = ["Yes", "No"]
            broken["correctAnswer"] = "Yes" if correct == "True" else "No"
    elif defect in ("duplicate", "repeat_existing"):
        source = repeat if defect == "repeat_existing" else None
        if source is None and earlier:
            previous = earlier[-1]
            source = previous if isinstance(previous, dict) else None
        return copy.deepcopy(source) if source is not None else broken
    else:  # pragma: no cover - faults.parse_fault rejects unknown defects
        raise ValueError(defect)
    return broken


def apply_defects(
    items: list[Item],
    defects: Sequence[InvalidItem],
    deck: Deck,
    existing: Sequence[str],
) -> list[Item]:
    """Replace the items at the given positions with broken ones (positions past the end are
    ignored: the model wrote fewer items than the fault expected)."""
    by_text = {normalise(q.question): q.to_json() for q in deck.questions}
    repeat = by_text.get(normalise(existing[0])) if existing else None
    result = list(items)
    for defect in sorted(defects, key=lambda d: d.at):
        if defect.at >= len(result):
            continue
        original = result[defect.at]
        if not isinstance(original, dict):
            continue
        if defect.defect == "duplicate":
            # `of`, or else the nearest earlier item that is not itself broken.
            broken_at = {d.at for d in defects}
            of = defect.of
            if of is None:
                of = next((i for i in range(defect.at - 1, -1, -1) if i not in broken_at), 0)
            result[defect.at] = copy.deepcopy(result[of])
            continue
        result[defect.at] = make_defective(original, defect.defect, result[: defect.at], repeat)
    return result


def plan_stream(
    questions: Sequence[Question],
    deck: Deck,
    existing: Sequence[str],
    fault: Fault | None,
    rng: random.Random,
    *,
    merged_final: bool = False,
) -> StreamPlan:
    kind = fault.kind if fault else "ok"
    items: list[Item] = [q.to_json() for q in questions]
    if fault and kind == "invalid_items":
        items = apply_defects(items, fault.items, deck, existing)
    if fault and kind == "bad_json":
        items = [*items[: fault.cut_after()], RawFragment(BROKEN_ITEM)]
    text, ends = render(items)
    plan = StreamPlan(items, text, ends)

    if kind == "blocked_prompt":
        plan.ending, plan.finish_reason = "blocked", None
        return plan

    def cut(k: int) -> int:
        return ends[min(k, len(ends)) - 1] if k > 0 and ends else 0

    stop_at = len(text)
    pause_at: int | None = None
    if fault and kind in ("drop", "truncate", "max_tokens", "safety", "error_event"):
        stop_at = min(len(text), cut(fault.cut_after()) + fault.tail_chars)
        plan.ending = cast(Ending, kind)
        plan.finish_reason = {
            "max_tokens": "MAX_TOKENS",
            "safety": fault.finish_reason,
        }.get(kind)
        forced = [cut(fault.cut_after()), stop_at]
    elif fault and kind == "stall" and fault.after_questions is not None:
        pause_at = cut(fault.after_questions)
        forced = [pause_at, stop_at]
    else:
        forced = [stop_at]

    position = 0
    for boundary in forced:
        for start, end in split(position, boundary, rng):
            completes = tuple(i for i, e in enumerate(ends) if start < e <= end)
            plan.steps.append(TextChunk(start, end, text[start:end], completes))
        position = max(position, boundary)
        if pause_at is not None and boundary == pause_at:
            plan.steps.append(Pause(fault.seconds if fault else None))
            pause_at = None
    if merged_final and plan.ending in ("stop", "max_tokens"):
        for index in range(len(plan.steps) - 1, -1, -1):
            step = plan.steps[index]
            if isinstance(step, TextChunk):
                plan.steps[index] = TextChunk(
                    step.start, step.end, step.text, step.completes, final=True
                )
                break
    return plan
