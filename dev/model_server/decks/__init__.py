"""The bundled decks and topic detection.

The offline model knows exactly these topics; anything else is an error, never filler.
"""

from __future__ import annotations

from .base import TRUE_FALSE_OPTIONS, Deck, Question, normalise, validate
from .capitals import DECK as CAPITALS
from .elements import DECK as ELEMENTS
from .nato import DECK as NATO

DECKS: dict[str, Deck] = {deck.key: deck for deck in (NATO, ELEMENTS, CAPITALS)}


def detect_topic(text: str) -> Deck | None:
    """The deck whose keywords occur earliest in `text` (case-insensitive), if any."""
    best: tuple[int, Deck] | None = None
    for deck in DECKS.values():
        position = deck.first_match(text)
        if position is not None and (best is None or position < best[0]):
            best = (position, deck)
    return best[1] if best else None


def describe_topics() -> str:
    """One line listing what the offline model knows, for error messages."""
    return "; ".join(f"{deck.title} ({len(deck)} questions)" for deck in DECKS.values())


__all__ = [
    "CAPITALS",
    "DECKS",
    "ELEMENTS",
    "NATO",
    "TRUE_FALSE_OPTIONS",
    "Deck",
    "Question",
    "describe_topics",
    "detect_topic",
    "normalise",
    "validate",
]
