"""The project's token spend today, as an instance sees it: read at most every few seconds.

The ceiling is a coarse guard (decisions §32), so a reading a few seconds old is as good as a
fresh one, and one aggregation query per attempt would add a round trip to every job's start.
One reading at a time: when the reading is due, the first caller reads and the others wait for
its answer; without that, every request of a burst that found the reading due (a cold
instance, 30 learners behind one address) would send the same aggregation query (decisions §36).
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
        self._reading_lock = threading.Lock()  # held by the one caller reading the database
        self._reading: tuple[float, str, int] | None = None  # (when, day, tokens)

    def spent_today(self) -> int:
        day = budget_day(self._clock())
        tokens = self._fresh(day)
        if tokens is not None:
            return tokens
        with self._reading_lock:
            tokens = self._fresh(day)  # read by the caller this one waited for
            if tokens is not None:
                return tokens
            started = self._monotonic()
            tokens = self._reader.project_spend(day)
            with self._lock:
                self._reading = (started, day, tokens)
            return tokens

    def _fresh(self, day: str) -> int | None:
        with self._lock:
            if self._reading is None:
                return None
            when, read_day, tokens = self._reading
            fresh = read_day == day and self._monotonic() - when < self._max_age
            return tokens if fresh else None
