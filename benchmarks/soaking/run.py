"""One soak: start the stack, drive it under chaos, let it settle, read what it left, check."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from google.cloud.firestore import FieldFilter
from qgen.adapters.firestore.names import JOBS
from rich.console import Console

from benchmarks.environment import machine_line
from benchmarks.soaking.actions import Actions, Tally
from benchmarks.soaking.chaos import Chaos, every
from benchmarks.soaking.drivers import Learners, make_learners
from benchmarks.soaking.faults import fault_specs
from benchmarks.soaking.figures import Figures, Timeline, chaos_figures, cpu_figures, job_figures
from benchmarks.soaking.invariants import Check, check_all
from benchmarks.soaking.options import STALE_PENDING_SECONDS, SoakOptions
from benchmarks.soaking.stack import SoakStack
from benchmarks.soaking.world import World, read_world
from dev.model_server.client import AdminClient
from dev.stack import STATE_DIR, firestore_emulator_host

LOG_ROOT = STATE_DIR / "logs" / "soak"


@dataclass
class SoakResult:
    checks: list[Check]
    figures: Figures
    log_dir: Path
    errors: list[str] = field(default_factory=list)
    world: World | None = None
    # The machine and the code when the stack started (the code may change during a run).
    machine: str = ""

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)


@dataclass
class Soak:
    """The running soak's parts, shared by its phases."""

    options: SoakOptions
    stack: SoakStack
    db: Any
    console: Console
    tally: Tally = field(default_factory=Tally)
    actions: Actions = field(default_factory=lambda: Actions(threads=32))
    stop: threading.Event = field(default_factory=threading.Event)
    sweeping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        o, c = self.options, self.stack.config
        self.http = httpx.Client(base_url=c.api_url, timeout=120)
        run_id = c.log_dir.name
        people = make_learners(o, run_id, c.project_id)
        self.learners = Learners(
            o, people, self.http, self.db, self.actions, self.tally, random.Random(o.seed)
        )
        chaos_rng = random.Random(o.seed + 1)
        self.chaos = Chaos(self.stack, self.learners.ledger, self.actions, self.tally, chaos_rng)
        self.model = AdminClient(c.model_url)

    def drive(self) -> Timeline:
        o, rng = self.options, random.Random(self.options.seed + 2)
        started, start = datetime.now(UTC), time.monotonic()
        self.model.add_faults(*fault_specs(o.fault_rate))
        every(lambda: o.sweep_every_seconds, self.chaos.sweep, self.sweeping)
        every(lambda: 2.0, self.chaos.sample_cpu, self.sweeping)
        kill_wait = o.kill_every_seconds
        every(lambda: rng.uniform(0.75, 1.25) * kill_wait, self.chaos.kill_one, self.stop)
        duplicate_rate = 1 / o.duplicate_every_seconds
        every(lambda: rng.expovariate(duplicate_rate), self.chaos.duplicate, self.stop)
        every(lambda: 2.0, self.learners.retry_failed, self.stop)
        # Creations spread at random over the drive but its last tenth, which lets them run.
        for offset in sorted(rng.uniform(0, 0.9 * o.drive_seconds) for _ in range(o.jobs)):
            self.actions.at(start + offset, self.learners.create)
        self._progress_until(start + o.drive_seconds)
        self.stop.set()
        return Timeline(started, datetime.now(UTC), datetime.now(UTC))

    def _progress_until(self, deadline: float) -> None:
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(30.0, left))
            counts = self.tally.snapshot()
            created = sum(n for k, n in counts.items() if k.startswith("create 202"))
            self.console.print(
                f"  {int(left)} s left: {created} jobs created, "
                f"{counts.get('worker killed', 0)} kills, {self.active_jobs()} active"
            )

    def settle(self, timeline: Timeline) -> None:
        """The chaos stops; retries and sweeps run until every job has ended (bounded)."""
        self.actions.close(wait=True)
        self.model.clear_faults()
        deadline = time.monotonic() + self.options.settle_seconds
        while self.active_jobs() and time.monotonic() < deadline:
            time.sleep(2)
        time.sleep(2)  # a function logs its event just after its commit
        self.chaos.sweep("all")
        self.sweeping.set()
        self.chaos.sample_cpu()
        timeline.settled = datetime.now(UTC)

    def active_jobs(self) -> int:
        active = FieldFilter("status", "in", ["pending", "processing"])
        query = self.db.collection(JOBS).where(filter=active)
        return sum(1 for _ in query.stream())

    def result(self, timeline: Timeline) -> SoakResult:
        world = read_world(
            self.db, self.stack.function_logs(), self.learners.ledger, self.stack.kills
        )
        checks = check_all(world, stale_pending_seconds=STALE_PENDING_SECONDS)
        figures = Figures()
        job_figures(world, timeline, figures)
        kills = len(self.chaos.kill_times)
        chaos_figures(self.tally.snapshot(), self.model.requests(), figures, kills)
        cpu = [(s.index, s.cpu.seconds, s.incarnation) for s in self.stack.slots]
        cpu_figures(cpu, timeline, figures)
        errors = self.chaos.errors + self.actions.errors
        return SoakResult(checks, figures, self.stack.config.log_dir, errors, world)


def run_soak(
    options: SoakOptions,
    console: Console,
    *,
    project_id: str = "demo-qgen-soak",
    firestore_host: str | None = None,
) -> SoakResult:
    run_id = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    machine = machine_line()
    stack = SoakStack(project_id, LOG_ROOT / run_id, options)
    try:
        started = time.monotonic()
        stack.start(firestore_host)
        took = time.monotonic() - started
        console.print(f"Stack up in {took:.1f} s; logs in {LOG_ROOT / run_id}")
        from google.cloud import firestore

        with firestore_emulator_host(stack.config.firestore_address):
            db = firestore.Client(project=project_id)
        soak = Soak(options, stack, db, console)
        timeline = soak.drive()
        console.print("Drive over; settling …")
        soak.settle(timeline)
        result = soak.result(timeline)
        result.machine = machine
        return result
    finally:
        stack.stop()
