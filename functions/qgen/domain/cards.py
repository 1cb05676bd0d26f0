"""Spaced-repetition state of a saved question: an FSRS card from the `fsrs` package."""

from __future__ import annotations

from datetime import datetime

from fsrs import Card, Scheduler
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

# Reviews never schedule a card further out than a year: a learner's deck should resurface.
MAXIMUM_INTERVAL_DAYS = 365


def scheduler() -> Scheduler:
    return Scheduler(maximum_interval=MAXIMUM_INTERVAL_DAYS)


class CardState(BaseModel):
    """The card fields of questions/{id}, with the review counters."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    due: datetime
    stability: float | None
    difficulty: float | None
    state: int
    step: int | None
    last_review: datetime | None
    reps: int = 0
    lapses: int = 0
    attempt_count: int = 0
    correct_count: int = 0

    @classmethod
    def new(cls, now: datetime) -> CardState:
        """A brand-new card, due now, with zeroed review counters."""
        # An explicit card_id: without one fsrs stamps the clock and sleeps 1 ms so the next
        # id differs, a millisecond per question in the commit path. The id is not stored.
        card = Card(card_id=0, due=now)
        return cls(
            due=card.due,
            stability=card.stability,
            difficulty=card.difficulty,
            state=int(card.state),
            step=card.step,
            last_review=card.last_review,
        )

    def to_card(self) -> Card:
        """The fsrs Card this state stands for (for reviews and for tests)."""
        return Card.from_dict(
            {
                "card_id": 0,
                "state": self.state,
                "step": self.step,
                "stability": self.stability,
                "difficulty": self.difficulty,
                "due": self.due.isoformat(),
                "last_review": self.last_review.isoformat() if self.last_review else None,
            }
        )
