"""Breaking items for the `invalid_items` fault: each defect is one way a model goes wrong."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from .array_text import Item
from .decks import Deck, normalise
from .faults import InvalidItem


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
    else:  # pragma: no cover - fault_parsing rejects unknown defects
        raise ValueError(defect)
    return broken
