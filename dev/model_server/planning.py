"""How many questions a streamGenerateContent answer plans: the count rules.

- `Number of questions to write: N` (the two-call worker): N, capped by the deck questions not
  among `<existing_questions>`.
- otherwise `Maximum number of questions: M` (the one-call worker): the smallest of those fresh
  deck questions, M, and the count in the learner's own words ("20 questions"), if any.
- neither line: 400, as the real model cannot know how many to write either.

The planned count is what the envelope's `count` says and what is streamed, unless an
`over_deliver` fault adds more.
"""

from __future__ import annotations

from .decks import Deck
from .errors import ApiError
from .request import ModelRequest
from .stream import select_questions


def planned_count(request: ModelRequest, deck: Deck) -> int:
    """The number of questions the answer plans; ApiError(400) when the prompt gives none."""
    fresh = len(select_questions(deck, request.existing, len(deck)))
    if request.count is not None:
        if request.count < 1:
            raise ApiError(400, "offline model: Number of questions to write must be >= 1")
        return min(request.count, fresh)
    if request.max_count is None:
        raise ApiError(
            400,
            "offline model: no line 'Number of questions to write: N' "
            "or 'Maximum number of questions: M' (see docs/model-protocol.md)",
        )
    if request.max_count < 1:
        raise ApiError(400, "offline model: Maximum number of questions must be >= 1")
    limits = [fresh, request.max_count]
    if request.asked_count:
        limits.append(request.asked_count)
    return min(limits)
