"""What the use cases need from the outside world, as small Protocols the adapters implement.

A unit of work runs a body in one transaction: every read first, then the writes, all or
nothing; a body that raises writes nothing. Saving a job writes only what changed and keeps
the owner's active-job counter in step with the status move, in the same commit.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from ..domain.budgets import LearnerBudget
from ..domain.devices import Devices
from ..domain.jobs import Job, JobStatus, QuestionBounds, StoredJob, Usage
from ..domain.limits import AdmissionState, IdempotencyClaim, IdempotencyRecord, RateWindow
from ..domain.notifications import Notification, SendReport
from ..domain.prompts import GenerationRequest
from ..domain.questions import SavedQuestion

T = TypeVar("T")

Clock = Callable[[], datetime]


class JobTransaction(Protocol):
    # ----- reads (all before the first write) ---------------------------------------------
    def get_job(self, job_id: str) -> Job | None: ...

    def get_jobs(self, job_ids: Sequence[str]) -> dict[str, Job | None]:
        """Several jobs in one read; each id maps to its job, or None if there is none."""
        ...

    def read_quota(self, user_id: str, windows: list[RateWindow], day: str) -> AdmissionState:
        """The learner's active jobs, exact windows, budget for ``day`` and whether their
        devices can be reached, in one read."""
        ...

    def read_idempotency(self, claim: IdempotencyClaim) -> IdempotencyRecord | None: ...

    def read_devices(self, user_id: str) -> Devices: ...

    def read_notification(self, notification_id: str) -> Notification | None: ...

    def read_active_counter(self, user_id: str) -> int: ...

    def count_active_jobs(self, user_id: str) -> int: ...

    def saved_question_ids(self, job_id: str, bounds: QuestionBounds) -> list[str]:
        """Ids of the job's question documents, in position order (the truth on counts).

        A job's questions are always the positions 0..n-1 (each commit writes the next
        positions, in order, all or nothing), and never more than ``bounds.upto``
        (`Job.question_bounds`): the documents from position ``bounds.known`` - 1 on are read
        by id, and all of them if that one is missing. Not a query: a query in a transaction
        locks more than the job's own documents (on the emulator, every job's question
        writes)."""
        ...

    # ----- writes --------------------------------------------------------------------------
    def add_job(self, job_id: str, job: Job) -> None: ...

    def save_job(self, job_id: str, before: Job, after: Job) -> None:
        """Also moves the owner's counter and budget, and writes the notification the move
        owes (`notification_for`), in the same commit."""
        ...

    def consume_quota(self, state: AdmissionState) -> None: ...

    def save_devices(self, user_id: str, devices: Devices) -> None: ...

    def save_notification(self, notification_id: str, notification: Notification) -> None: ...

    def delete_notification(self, notification_id: str) -> None: ...

    def record_idempotency(
        self, claim: IdempotencyClaim, *, job_id: str, user_id: str, now: datetime
    ) -> None: ...

    def put_question(self, question_id: str, question: SavedQuestion) -> None: ...

    def set_active_counter(self, user_id: str, value: int) -> None: ...


class UnitOfWork(Protocol):
    def run(self, body: Callable[[JobTransaction], T]) -> T:
        """Run ``body`` in one transaction (again on contention); its result, or its error."""
        ...

    def new_job_id(self) -> str: ...


class JobReader(Protocol):
    """Reads outside a transaction (what a learner or a resumed attempt looks at)."""

    def get_job(self, job_id: str) -> StoredJob | None: ...

    def list_jobs(self, user_id: str, limit: int) -> list[StoredJob]: ...

    def active_jobs(self, user_id: str) -> int: ...

    def budget(self, user_id: str, day: str) -> LearnerBudget: ...

    def project_spend(self, day: str) -> int:
        """Tokens the whole project recorded as spent on ``day`` (a coarse, sharded sum)."""
        ...

    def window_count(self, window: RateWindow) -> int:
        """A coarse (sharded) rate window's count, summed over its shards."""
        ...

    def saved_questions(self, job_id: str) -> list[tuple[str, str]]:
        """(id, question text) of the job's saved questions, in position order."""
        ...


class CleanupScans(Protocol):
    """The sweeps of the scheduled cleanup: paged, indexed queries and guarded deletes."""

    def delete_finished_before(self, status: JobStatus, cutoff: datetime) -> int: ...

    def delete_expired_limits(self, now: datetime) -> int: ...

    def expired_leases(self, now: datetime) -> Iterator[StoredJob]: ...

    def stale_pending(self, enqueued_before: datetime) -> Iterator[StoredJob]: ...

    def due_notifications(self, now: datetime) -> Iterator[str]:
        """Outbox documents due for a send (left by a worker that died or a failed send)."""
        ...

    def users_to_recount(self) -> Iterator[str]:
        """Learners whose active-job counter could be wrong: those with an active job, and
        those whose counter is not zero. Everyone else has no job to count and a zero."""
        ...


class QueueUnavailableError(Exception):
    """The task could not be created; the job must not be left waiting for it."""


class TaskQueue(Protocol):
    def enqueue(self, task_id: str, job_id: str, *, delay_seconds: float = 0) -> bool:
        """Create the task (to run ``delay_seconds`` from now); False when a task of that name
        already exists (a no-op)."""
        ...


class Notifier(Protocol):
    def send(self, notification: Notification, tokens: dict[str, str]) -> SendReport:
        """Hand ``notification`` to FCM for each device (id -> registration token); what FCM
        answered for each. Never raises: a transport failure is every device FAILED."""
        ...


@dataclass(frozen=True)
class StreamChunk:
    text: str
    # Cumulative over the stream: the last report is the total.
    usage: Usage | None = None
    # The model that wrote it (the fallback, when the primary could not answer).
    model: str | None = None


class Model(Protocol):
    model: str

    def stream_questions(self, request: GenerationRequest) -> Generator[StreamChunk, None, None]:
        """The streamed text. It ends normally only when the model finished its answer;
        any other ending (truncated, blocked, transport) raises ModelError, classified."""
        ...
