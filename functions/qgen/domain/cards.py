"""Spaced-repetition state of a saved question: an FSRS card from the `fsrs` package."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fsrs import Card, Scheduler

# Reviews never schedule a card further out than a year: a learner's deck should resurface.
MAXIMUM_INTERVAL_DAYS = 365


def scheduler() -> Scheduler:
    return Scheduler(maximum_interval=MAXIMUM_INTERVAL_DAYS)


def new_card_fields(now: datetime) -> dict[str, Any]:
    """Firestore fields of a brand-new card, due now, with zeroed review counters."""
    card = Card(due=now)
    return {
        "due": card.due,
        "stability": card.stability,
        "difficulty": card.difficulty,
        "state": int(card.state),
        "step": card.step,
        "lastReview": card.last_review,
        "reps": 0,
        "lapses": 0,
        "attemptCount": 0,
        "correctCount": 0,
    }


def card_from_fields(fields: dict[str, Any]) -> Card:
    """The fsrs Card stored in a question document (for reviews and for tests)."""
    return Card.from_dict(
        {
            "card_id": 0,
            "state": fields["state"],
            "step": fields["step"],
            "stability": fields["stability"],
            "difficulty": fields["difficulty"],
            "due": fields["due"].isoformat(),
            "last_review": fields["lastReview"].isoformat() if fields["lastReview"] else None,
        }
    )
