"""How long to wait before each event of a stream.

- `first_chunk` (TTFT): before the first event of every call (for generateContent, before the
  answer);
- `pace`: between events;
- `question` (0 = off): the time from the first chunk of one question item to the first chunk of
  the next, spread evenly over that item's chunks. It replaces `pace` after a question item's
  chunks, and the first item's first chunk follows an envelope's header at once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from .stream_events import Action, Event


@dataclass(frozen=True)
class Pacing:
    """Seconds: before the first event, between events, per question item (0: use `pace`)."""

    first_chunk: float
    pace: float
    question: float = 0.0

    def delays(self, actions: Sequence[Action]) -> list[float]:
        """The wait before each action (0 for pauses and drops, which time themselves)."""
        chunks = Counter(a.item for a in actions if isinstance(a, Event) and a.item is not None)
        result: list[float] = []
        previous: Event | None = None
        for action in actions:
            if not isinstance(action, Event):
                result.append(0.0)
                continue
            if previous is None:
                result.append(self.first_chunk)
            else:
                result.append(self._between(previous, action, chunks))
            previous = action
        return result

    def _between(self, previous: Event, event: Event, chunks: Counter[int]) -> float:
        if self.question <= 0:
            return self.pace
        if previous.item is not None:
            return self.question / chunks[previous.item]
        return 0.0 if event.item is not None else self.pace
