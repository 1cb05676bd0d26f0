"""Server-wide behaviour: the CLI sets the defaults, POST /_admin/config changes them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

FinalEvent = Literal["separate", "merged"]
FINAL_EVENTS: tuple[FinalEvent, ...] = ("separate", "merged")

# JSON name (GET/POST /_admin/config) -> attribute.
JSON_NAMES: dict[str, str] = {
    "paceMs": "pace_ms",
    "firstChunkMs": "first_chunk_ms",
    "finalEvent": "final_event",
    "seed": "seed",
    "questionMs": "question_ms",
}
# The numbers are checked before finalEvent: with several bad values, the error names a number.
CHECK_ORDER = ("paceMs", "firstChunkMs", "seed", "questionMs", "finalEvent")


@dataclass
class Settings:
    """Delays in milliseconds: `pace_ms` between events, `first_chunk_ms` before the first event
    of every call (TTFT), `question_ms` (0 = off) per streamed question item (pacing.py)."""

    pace_ms: int = 40
    first_chunk_ms: int = 0
    final_event: FinalEvent = "separate"
    seed: int = 0
    question_ms: int = 0

    def to_json(self) -> dict[str, Any]:
        return {key: getattr(self, attr) for key, attr in JSON_NAMES.items()}

    def updated(self, changes: object) -> Settings:
        """A copy with `changes` (JSON names) applied; ValueError says what is wrong."""
        if not isinstance(changes, dict):
            raise ValueError("expected a JSON object")
        unknown = set(changes) - set(JSON_NAMES)
        if unknown:
            raise ValueError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(JSON_NAMES)}")
        values: dict[str, Any] = {
            JSON_NAMES[key]: _checked(key, changes[key]) for key in CHECK_ORDER if key in changes
        }
        return dataclasses.replace(self, **values)


def _checked(key: str, value: object) -> object:
    if key == "finalEvent":
        if value not in FINAL_EVENTS:
            raise ValueError('finalEvent must be "separate" or "merged"')
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key} must be an integer >= 0")
    return value
