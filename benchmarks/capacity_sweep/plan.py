"""What a capacity run is made of: its goals, the sweep of job counts, and the pure figures
(per-job results, the saturation point) that the report is built from."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

from benchmarks.report import percentile
from dev.stack import STATE_DIR

CAPACITY_PROJECT = "demo-qgen-bench-capacity"
CAPACITY_LOG_DIR = STATE_DIR / "logs" / "bench-capacity"
# Issue 13, part 3. Never loosened here: a miss is reported with its figure.
GOAL_JOBS = 10  # concurrent 40-question jobs in one worker process
GOAL_VISIBLE_P50_MS = 100.0  # each job: model finished a question -> listener, p50
GOAL_WALL_OVER_STREAM = 1.1  # each job: wall time / model stream time
SATURATION_FACTOR = 2.0  # saturated once pooled p95 reaches this times the p95 at K = 1
# The sweep's first steps, then every SWEEP_STEP jobs more.
SWEEP_START = (1, 2, 5, 10, 15, 20)
SWEEP_STEP = 10


@dataclass(frozen=True)
class Plan:
    """The run, as the command line asked for it."""

    questions: int  # max_questions_per_job (the worker's)
    max_jobs: int  # the sweep stops at this K even if p95 has not doubled
    min_jobs_per_step: int  # small K run in rounds until this many jobs were measured
    threads: int  # gunicorn threads of the worker process (THREADS)
    dispatch_rate: float  # deliveries per second, as a queue's rate limit (0: all at once)
    warmup: bool
    timeout: float


def sweep_sizes(max_jobs: int) -> Iterator[int]:
    """1, 2, 5, 10, 15, 20, 30, 40, … up to max_jobs (always ending on it)."""
    last = 0
    for k in SWEEP_START:
        if k >= max_jobs:
            break
        yield k
        last = k
    k = last + SWEEP_STEP - last % SWEEP_STEP if last >= SWEEP_START[-1] else 0
    while 0 < k < max_jobs:
        yield k
        k += SWEEP_STEP
    yield max_jobs


def rounds_for(jobs: int, min_jobs: int) -> int:
    """Rounds of `jobs` concurrent jobs so that at least min_jobs were measured: K = 1 alone
    gives 40 samples, too few for a steady p95 baseline."""
    return max(1, math.ceil(min_jobs / jobs))


@dataclass
class JobResult:
    """One job of a round, as the benchmark saw it from outside the worker process."""

    job_id: str
    outcome: str  # the worker's answer ("completed", …) or the HTTP failure
    saved: int
    posted_at: float  # the delivery (POST) was sent
    answered_at: float  # the worker answered it
    stream_received_at: float | None  # the model server's receivedAt of the job's stream
    last_sent_at: float | None  # sentAt of its last question
    visible_s: list[float] = field(default_factory=list)  # sentAt -> listener, per question
    missing: int = 0  # streamed questions the listener never saw

    @property
    def wall_s(self) -> float:
        return self.answered_at - self.posted_at

    @property
    def stream_s(self) -> float | None:
        if self.stream_received_at is None or self.last_sent_at is None:
            return None
        return self.last_sent_at - self.stream_received_at

    @property
    def ratio(self) -> float:
        stream = self.stream_s
        return math.nan if not stream else self.wall_s / stream

    def ms(self, q: float) -> float:
        return percentile(sorted(self.visible_s), q) * 1000


@dataclass
class Step:
    """All rounds of one K: its jobs, and the CPU seconds each process spent meanwhile."""

    jobs_at_once: int
    jobs: list[JobResult]
    seconds: float  # wall time of the rounds (deliveries sent -> last answer)
    cpu: dict[str, float]  # CPU seconds by process, and the machine's busy seconds

    def pooled_ms(self, q: float) -> float:
        pooled = sorted(v for job in self.jobs for v in job.visible_s)
        return percentile(pooled, q) * 1000

    @property
    def failed(self) -> list[JobResult]:
        return [j for j in self.jobs if j.outcome != "completed" or j.missing]


@dataclass(frozen=True)
class Saturation:
    baseline_p95_ms: float  # pooled p95 at K = 1
    last_below: int | None  # the largest K measured before p95 doubled
    doubled_at: int | None  # the first K whose p95 reached twice the baseline (None: never)


def saturation(p95_by_k: list[tuple[int, float]], factor: float = SATURATION_FACTOR) -> Saturation:
    """Where pooled p95 first reaches `factor` x its value at the smallest K, in sweep order."""
    if not p95_by_k:
        return Saturation(math.nan, None, None)
    baseline = p95_by_k[0][1]
    last_below: int | None = None
    for k, p95 in p95_by_k:
        if p95 >= factor * baseline:
            return Saturation(baseline, last_below, k)
        last_below = k
    return Saturation(baseline, last_below, None)


def sweep_done(p95_by_k: list[tuple[int, float]], goal_jobs: int = GOAL_JOBS) -> bool:
    """Stop once p95 has doubled, but not before the goal's K has been measured."""
    measured = {k for k, _ in p95_by_k}
    return saturation(p95_by_k).doubled_at is not None and any(k >= goal_jobs for k in measured)
