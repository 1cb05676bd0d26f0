"""The project's token spend today, as a worker instance sees it: read at most every few seconds.

The ceiling is a coarse guard (decisions §32), so a reading a few seconds old is as good as a
fresh one, and one aggregation query per attempt would add a round trip to every job's start.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..domain.budgets import budget_day
from .ports import Clock, JobReader


class SpendGauge:
    def __init__(
        self,
        reader: JobReader,
        clock: Clock,
        *,
        max_age_seconds: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._reader = reader
        self._clock = clock
        self._max_age = max_age_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._reading: tuple[float, str, int] | None = None  # (when, day, tokens)

    def spent_today(self) -> int:
        day, now = budget_day(self._clock()), self._monotonic()
        with self._lock:
            if self._reading is not None:
                when, read_day, tokens = self._reading
                if read_day == day and now - when < self._max_age:
                    return tokens
        tokens = self._reader.project_spend(day)
        with self._lock:
            self._reading = (now, day, tokens)
        return tokens
