"""The chaos beside the learners: workers SIGKILLed and restarted, task bodies delivered twice,
the cleanup sweep every few seconds, and the CPU readings of the workers."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from benchmarks.soaking.actions import Actions, Tally
from benchmarks.soaking.drivers import Ledger
from benchmarks.soaking.stack import SoakStack
from dev.stack import StackError

# How many of the latest jobs a duplicate delivery picks from (most still running), and how
# often it picks any job instead (most of those ended: the worker must just acknowledge).
RECENT_JOBS = 24
ANY_JOB_SHARE = 0.25


def every(seconds: Callable[[], float], action: Callable[[], None], stop: threading.Event) -> None:
    """Run ``action`` in a daemon thread, waiting ``seconds()`` before each run, until stop."""

    def loop() -> None:
        while not stop.wait(seconds()):
            action()

    threading.Thread(target=loop, daemon=True, name=getattr(action, "__name__", "every")).start()


class Chaos:
    def __init__(
        self, stack: SoakStack, ledger: Ledger, actions: Actions, tally: Tally, rng: random.Random
    ) -> None:
        self.stack, self.ledger, self.actions = stack, ledger, actions
        self.tally, self.rng = tally, rng
        self.kill_times: list[float] = []
        self.sweep_totals: dict[str, int] = {}
        self.errors: list[str] = []

    def kill_one(self) -> None:
        """SIGKILL a worker while every worker is up (so one always serves), then restart it."""
        slots = self.stack.slots
        if any(slot.managed is None for slot in slots):
            return
        slot = self.rng.choice(slots)
        self.stack.kill_worker(slot)
        self.kill_times.append(time.monotonic())
        self.tally.add("worker killed")
        for _ in range(3):
            try:
                self.stack.start_worker(slot)
                return
            except StackError as exc:
                self.errors.append(f"restart of worker {slot.index}: {exc}")

    def duplicate(self) -> None:
        """A task body POSTed straight to a worker: a second delivery of a job's task."""
        with self.ledger.lock:
            jobs = list(self.ledger.created)
        if not jobs:
            return
        pool = jobs if self.rng.random() < ANY_JOB_SHARE else jobs[-RECENT_JOBS:]
        job_id = self.rng.choice(pool)
        live = [s for s in self.stack.slots if s.managed is not None]
        if not live:
            return
        slot = self.rng.choice(live)
        self.actions.now(lambda: self._deliver(self.stack.worker_url(slot), job_id))

    def _deliver(self, url: str, job_id: str) -> None:
        headers = {"X-CloudTasks-QueueName": self.stack.config.queue_path}
        try:
            answer = httpx.post(url, json={"jobId": job_id}, headers=headers, timeout=280)
        except httpx.HTTPError as exc:
            self.tally.add(f"duplicate delivery: {type(exc).__name__} (worker down)")
            return
        outcome = _field(answer, "outcome")
        self.tally.add(f"duplicate delivery: {answer.status_code} {outcome}".strip())

    def sweep(self, mode: str = "recovery") -> None:
        """What Cloud Scheduler calls: the cleanup's recovery (and counter repair)."""
        headers = {"X-CloudScheduler": "true"}
        try:
            answer = httpx.post(
                self.stack.config.cleanup_url, json={"mode": mode}, headers=headers, timeout=120
            )
        except httpx.HTTPError as exc:
            self.errors.append(f"sweep: {type(exc).__name__}: {exc}")
            return
        self.tally.add(f"sweep {answer.status_code}")
        report = _field(answer, "recovery")
        for key, value in report.items() if isinstance(report, dict) else ():
            if isinstance(value, list) and value:
                self.sweep_totals[key] = self.sweep_totals.get(key, 0) + len(value)

    def sample_cpu(self) -> None:
        for slot in self.stack.slots:
            slot.cpu.sample()


def _field(answer: httpx.Response, name: str) -> Any:
    try:
        return answer.json().get(name, "")
    except (ValueError, AttributeError):
        return ""
