"""In-memory stand-ins for the ports, for unit tests (tests/contract runs the shared cases
against these and against Firestore, so the two cannot drift apart).

The unit of work behaves as a Firestore transaction does where the services can tell: reads
must come before writes, a body that raises writes nothing, and saving a job moves the owner's
active-job counter by the status move. The task queue deduplicates names as Cloud Tasks does
(which the emulator does not).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from qgen.domain.budgets import BudgetDelta, LearnerBudget, budget_delta
from qgen.domain.devices import Devices
from qgen.domain.failures import ModelError
from qgen.domain.jobs import Job, JobStatus, QuestionBounds, StoredJob, Usage, counter_delta
from qgen.domain.limits import AdmissionState, IdempotencyClaim, IdempotencyRecord, RateWindow
from qgen.domain.notifications import (
    Notification,
    SendReport,
    TokenResult,
    notification_for,
)
from qgen.domain.prompts import GenerationRequest
from qgen.domain.questions import SavedQuestion
from qgen.services.ports import QueueUnavailableError, StreamChunk

T = TypeVar("T")


@dataclass
class MemoryState:
    jobs: dict[str, Job] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    windows: dict[str, int] = field(default_factory=dict)
    idempotency: dict[str, IdempotencyRecord] = field(default_factory=dict)
    questions: dict[str, SavedQuestion] = field(default_factory=dict)
    devices: dict[str, Devices] = field(default_factory=dict)
    outbox: dict[str, Notification] = field(default_factory=dict)
    # (learner, day) -> [reserved, spent]
    budgets: dict[tuple[str, str], list[int]] = field(default_factory=dict)


class ReadAfterWriteError(Exception):
    """Firestore refuses a read after a write in one transaction; so does the fake."""


class MemoryTransaction:
    def __init__(self, state: MemoryState) -> None:
        self._state = state
        self._writes: list[Callable[[], None]] = []

    def _read(self) -> MemoryState:
        if self._writes:
            raise ReadAfterWriteError("every read must come before the first write")
        return self._state

    def _write(self, apply: Callable[[], None]) -> None:
        self._writes.append(apply)

    def commit(self) -> None:
        for apply in self._writes:
            apply()

    # ----- reads ---------------------------------------------------------------------------

    def get_job(self, job_id: str) -> Job | None:
        return self._read().jobs.get(job_id)

    def get_jobs(self, job_ids: Sequence[str]) -> dict[str, Job | None]:
        jobs = self._read().jobs
        return {job_id: jobs.get(job_id) for job_id in job_ids}

    def read_quota(self, user_id: str, windows: list[RateWindow], day: str) -> AdmissionState:
        state = self._read()
        reserved, spent = state.budgets.get((user_id, day), [0, 0])
        return AdmissionState(
            active_jobs=state.counters.get(user_id, 0),
            window_counts={w: state.windows.get(w.document_id, 0) for w in windows},
            budget=LearnerBudget(reserved, spent),
            reachable=state.devices.get(user_id, Devices()).reachable,
        )

    def read_idempotency(self, claim: IdempotencyClaim) -> IdempotencyRecord | None:
        return self._read().idempotency.get(claim.document_id)

    def read_devices(self, user_id: str) -> Devices:
        return self._read().devices.get(user_id, Devices())

    def save_devices(self, user_id: str, devices: Devices) -> None:
        self._write(lambda: self._state.devices.__setitem__(user_id, devices))

    def read_notification(self, notification_id: str) -> Notification | None:
        return self._read().outbox.get(notification_id)

    def save_notification(self, notification_id: str, notification: Notification) -> None:
        self._write(lambda: self._state.outbox.__setitem__(notification_id, notification))

    def delete_notification(self, notification_id: str) -> None:
        self._write(lambda: self._state.outbox.pop(notification_id, None))

    def read_active_counter(self, user_id: str) -> int:
        return self._read().counters.get(user_id, 0)

    def count_active_jobs(self, user_id: str) -> int:
        jobs = self._read().jobs.values()
        return sum(1 for job in jobs if job.user_id == user_id and job.is_active)

    def saved_question_ids(self, job_id: str, bounds: QuestionBounds) -> list[str]:
        saved = self._read().questions
        ids = sorted(qid for qid, q in saved.items() if q.generation_job_id == job_id)
        return ids[: bounds.upto]

    # ----- writes --------------------------------------------------------------------------

    def add_job(self, job_id: str, job: Job) -> None:
        self._write(lambda: self._state.jobs.__setitem__(job_id, job))
        self._move_counter(job.user_id, counter_delta(None, job.status))
        self._move_budget(job.user_id, budget_delta(None, job))

    def save_job(self, job_id: str, before: Job, after: Job) -> None:
        self._write(lambda: self._state.jobs.__setitem__(job_id, after))
        self._move_counter(after.user_id, counter_delta(before.status, after.status))
        self._move_budget(after.user_id, budget_delta(before, after))
        owed = notification_for(job_id, before, after)
        if owed is not None:
            self.save_notification(*owed)

    def _move_budget(self, user_id: str, delta: BudgetDelta | None) -> None:
        if delta is None:
            return
        state = self._state

        def apply() -> None:
            day = state.budgets.setdefault((user_id, delta.day), [0, 0])
            day[0] += delta.reserved
            day[1] += delta.spent

        self._write(apply)

    def _move_counter(self, user_id: str, delta: int) -> None:
        counters = self._state.counters
        if delta:
            self._write(lambda: counters.__setitem__(user_id, counters.get(user_id, 0) + delta))

    def consume_quota(self, state: AdmissionState) -> None:
        windows = self._state.windows
        for window, count in state.window_counts.items():
            if window.shards == 1:
                self._write(lambda w=window, c=count: windows.__setitem__(w.document_id, c + 1))
            else:  # a blind increment of one shard, as the adapter does
                shard = window.shard_ids()[len(windows) % window.shards]
                self._write(lambda s=shard: windows.__setitem__(s, windows.get(s, 0) + 1))

    def record_idempotency(
        self, claim: IdempotencyClaim, *, job_id: str, user_id: str, now: datetime
    ) -> None:
        record = IdempotencyRecord(job_id, claim.fingerprint, claim.expires_at)
        self._write(lambda: self._state.idempotency.__setitem__(claim.document_id, record))

    def put_question(self, question_id: str, question: SavedQuestion) -> None:
        self._write(lambda: self._state.questions.__setitem__(question_id, question))

    def set_active_counter(self, user_id: str, value: int) -> None:
        self._write(lambda: self._state.counters.__setitem__(user_id, value))


class MemoryStore:
    """UnitOfWork, JobReader and CleanupScans over one MemoryState."""

    def __init__(self, state: MemoryState | None = None) -> None:
        self.state = state or MemoryState()
        self._lock = threading.Lock()
        self._ids = 0
        self.commits = 0

    # ----- UnitOfWork ----------------------------------------------------------------------

    def new_job_id(self) -> str:
        with self._lock:
            self._ids += 1
            return f"job{self._ids:04d}"

    def run(self, body: Callable[[MemoryTransaction], T]) -> T:
        with self._lock:  # transactions are serialisable: one at a time is the simplest way
            tx = MemoryTransaction(self.state)
            result = body(tx)
            tx.commit()
            self.commits += 1
            return result

    # ----- JobReader -----------------------------------------------------------------------

    def get_job(self, job_id: str) -> StoredJob | None:
        job = self.state.jobs.get(job_id)
        return StoredJob(job_id, job) if job else None

    def list_jobs(self, user_id: str, limit: int) -> list[StoredJob]:
        mine = [StoredJob(i, j) for i, j in self.state.jobs.items() if j.user_id == user_id]
        return sorted(mine, key=lambda s: s.job.created_at, reverse=True)[:limit]

    def active_jobs(self, user_id: str) -> int:
        return self.state.counters.get(user_id, 0)

    def budget(self, user_id: str, day: str) -> LearnerBudget:
        reserved, spent = self.state.budgets.get((user_id, day), [0, 0])
        return LearnerBudget(reserved, spent)

    def project_spend(self, day: str) -> int:
        return sum(spent for (_, d), (_, spent) in self.state.budgets.items() if d == day)

    def window_count(self, window: RateWindow) -> int:
        return sum(self.state.windows.get(i, 0) for i in window.shard_ids())

    def saved_questions(self, job_id: str) -> list[tuple[str, str]]:
        saved = self.state.questions
        return sorted((i, q.question) for i, q in saved.items() if q.generation_job_id == job_id)

    # ----- CleanupScans --------------------------------------------------------------------

    def _jobs(self, keep: Callable[[Job], bool], key: Callable[[Job], Any]) -> list[StoredJob]:
        found = [StoredJob(i, j) for i, j in list(self.state.jobs.items()) if keep(j)]
        return sorted(found, key=lambda s: key(s.job))

    def delete_finished_before(self, status: JobStatus, cutoff: datetime) -> int:
        doomed = self._jobs(
            lambda j: j.status is status and j.completed_at is not None and j.completed_at < cutoff,
            lambda j: j.completed_at,
        )
        for stored in doomed:
            del self.state.jobs[stored.job_id]
        return len(doomed)

    def delete_expired_limits(self, now: datetime) -> int:
        expired = [
            k for k, r in self.state.idempotency.items() if r.expires_at and r.expires_at < now
        ]
        for key in expired:
            del self.state.idempotency[key]
        return len(expired)

    def _before(self, status: JobStatus, field: str, bound: datetime) -> Iterator[StoredJob]:
        """Jobs of ``status`` whose ``field`` is before ``bound``, oldest first."""

        def value(job: Job) -> datetime | None:
            moment: datetime | None = getattr(job, field)
            return moment

        def keep(job: Job) -> bool:
            moment = value(job)
            return job.status is status and moment is not None and moment < bound

        return iter(self._jobs(keep, value))

    def expired_leases(self, now: datetime) -> Iterator[StoredJob]:
        return self._before(JobStatus.PROCESSING, "lease_expires_at", now)

    def stale_pending(self, enqueued_before: datetime) -> Iterator[StoredJob]:
        return self._before(JobStatus.PENDING, "enqueued_at", enqueued_before)

    def due_notifications(self, now: datetime) -> Iterator[str]:
        due = [(n.due_at, i) for i, n in self.state.outbox.items() if n.due_at <= now]
        return iter([i for _, i in sorted(due)])

    def users_to_recount(self) -> Iterator[str]:
        nonzero = {user for user, count in self.state.counters.items() if count != 0}
        active = {job.user_id for job in self.state.jobs.values() if job.is_active}
        return iter(sorted(nonzero | active))


@dataclass
class InMemoryTaskQueue:
    tasks: dict[str, str] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)
    attempts: int = 0
    fail_with: str | None = None

    def enqueue(self, task_id: str, job_id: str, *, delay_seconds: float = 0) -> bool:
        self.attempts += 1
        self.delays[task_id] = delay_seconds
        if self.fail_with is not None:
            raise QueueUnavailableError(self.fail_with)
        # Cloud Tasks keeps a task name reserved after creation: the same name is a no-op.
        if task_id in self.tasks:
            return False
        self.tasks[task_id] = job_id
        return True


@dataclass
class FakeNotifier:
    """The Notifier port: records every send; ``answers`` scripts FCM's answer per token
    (default SENT), ``fail_with`` makes every send raise (a broken adapter)."""

    sent: list[tuple[Notification, dict[str, str]]] = field(default_factory=list)
    answers: dict[str, TokenResult] = field(default_factory=dict)
    fail_with: Exception | None = None

    def send(self, notification: Notification, tokens: dict[str, str]) -> SendReport:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append((notification, dict(tokens)))
        results = {d: self.answers.get(t, TokenResult.SENT) for d, t in tokens.items()}
        failed = any(r is TokenResult.FAILED for r in results.values())
        return SendReport(results, "fcm unavailable" if failed else None)


@dataclass
class FakeClock:
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 30, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class ScriptedModel:
    """The Model port, scripted: the stream's pieces, then its ending.

    ``stream_end`` None: the stream ends normally (the model finished); a ModelError: raised
    after the pieces, as the adapter does for a truncated or blocked stream. ``on_piece`` runs
    before each piece is yielded (to cancel a job mid-stream, say).
    """

    pieces: list[str] = field(default_factory=list)
    stream_end: ModelError | None = None
    usage: Usage | None = field(default_factory=lambda: Usage(prompt_tokens=10, output_tokens=20))
    model: str = "scripted-model"
    requests: list[GenerationRequest] = field(default_factory=list)
    on_piece: Callable[[int], None] | None = None
    pieces_read: int = 0

    def stream_questions(self, request: GenerationRequest) -> Generator[StreamChunk, None, None]:
        self.requests.append(request)
        for index, piece in enumerate(self.pieces):
            if self.on_piece is not None:
                self.on_piece(index)
            self.pieces_read = index + 1
            yield StreamChunk(piece, self.usage)
        if self.stream_end is not None:
            raise self.stream_end


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``condition`` (the worker's writer thread commits on its own schedule)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.001)
