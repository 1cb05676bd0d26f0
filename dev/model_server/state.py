"""Everything the admin API shows or changes, shared by all handler threads under one lock."""

from __future__ import annotations

import dataclasses
import random
import threading
from collections.abc import Iterable
from typing import Any

from .faults import Fault
from .request import Call
from .settings import Settings

CALL_NAMES: dict[Call, str] = {"clarify": "generateContent", "stream": "streamGenerateContent"}
# A long-running local server keeps at most this many events and request records.
MAX_RECORDS = 100_000


class State:
    def __init__(self, defaults: Settings) -> None:
        self.defaults = defaults
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.settings = dataclasses.replace(self.defaults)
            self.faults: list[Fault] = []
            self.counts: dict[str, int] = {name: 0 for name in CALL_NAMES.values()}
            self.faults_applied = 0
            self.events: list[dict[str, Any]] = []
            self.requests: list[dict[str, Any]] = []
            # Draws for faults with a probability; seeded, so a run can be repeated.
            self.fault_rng = random.Random(self.defaults.seed)  # noqa: S311 - not security

    def begin(self, call: Call, model: str | None = None) -> tuple[int, Fault | None, Settings]:
        """Count a model request and take the first pending fault that matches it."""
        with self.lock:
            self.counts[CALL_NAMES[call]] += 1
            number = sum(self.counts.values())
            for index, fault in enumerate(self.faults):
                if fault.matches(call, model) and self._fires(fault):
                    fault.times -= 1
                    if fault.times == 0:
                        del self.faults[index]
                    self.faults_applied += 1
                    return number, fault, self.settings
            return number, None, self.settings

    def _fires(self, fault: Fault) -> bool:
        """Whether a matching fault applies to this request (always, without a probability)."""
        return fault.probability is None or self.fault_rng.random() < fault.probability

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                **self.counts,
                "faultsApplied": self.faults_applied,
                "faultsPending": sum(f.times for f in self.faults),
                "questionsStreamed": len(self.events),
            }

    def pending_faults(self) -> list[dict[str, Any]]:
        with self.lock:
            return [f.describe() for f in self.faults]

    def add_faults(self, faults: Iterable[Fault]) -> list[dict[str, Any]]:
        """Queue `faults` behind the pending ones; returns the whole queue."""
        with self.lock:
            self.faults.extend(faults)
            return [f.describe() for f in self.faults]

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def use_settings(self, settings: Settings) -> None:
        with self.lock:
            self.settings = settings

    def add_events(self, events: Iterable[dict[str, Any]]) -> None:
        with self.lock:
            self.events.extend(events)
            del self.events[:-MAX_RECORDS]

    def add_request(self, record: dict[str, Any]) -> None:
        with self.lock:
            self.requests.append(record)
            del self.requests[:-MAX_RECORDS]

    def recorded_events(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.events)

    def recorded_requests(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.requests)
