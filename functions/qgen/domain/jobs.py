"""The generation job: its model, its statuses and the predicates every rule is built from.

`Job` carries camelCase aliases because its serialised form *is* the data contract
(generationJobs/{jobId}); code only ever uses the snake_case names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class JobStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class JobPhase(StrEnum):
    CLARIFYING = "clarifying"
    GENERATING = "generating"
    FINALIZING = "finalizing"


ACTIVE_STATUSES = frozenset({JobStatus.PENDING, JobStatus.PROCESSING})
TERMINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})

# Every legal move. PROCESSING -> PENDING is a worker handing a transient failure back to the
# queue; FAILED -> PENDING is the learner's retry of a retryable failure.
_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: frozenset({JobStatus.PROCESSING, JobStatus.CANCELLED, JobStatus.FAILED}),
    JobStatus.PROCESSING: frozenset(
        {JobStatus.PENDING, JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED}
    ),
    JobStatus.FAILED: frozenset({JobStatus.PENDING}),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}


class IllegalTransitionError(ValueError):
    def __init__(self, current: JobStatus, target: JobStatus) -> None:
        super().__init__(f"a {current} job cannot become {target}")
        self.current = current
        self.target = target


def slot_delta(current: JobStatus | None, target: JobStatus) -> int:
    """How a move changes the owner's active-job count: +1, -1 or 0.

    ``current`` None is a job being created. Raises IllegalTransitionError for a move the state
    machine does not allow, so a counter is never adjusted for a transition that cannot happen.
    """
    if current is None:
        return int(target in ACTIVE_STATUSES)
    if target not in _TRANSITIONS[current]:
        raise IllegalTransitionError(current, target)
    return int(target in ACTIVE_STATUSES) - int(current in ACTIVE_STATUSES)


def counter_delta(before: JobStatus | None, after: JobStatus) -> int:
    """How saving a job changes its owner's active-job count; 0 when the status stays."""
    return 0 if before is after else slot_delta(before, after)


def is_cancellable(status: JobStatus) -> bool:
    return JobStatus.CANCELLED in _TRANSITIONS[status]


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Usage(_Camel):
    prompt_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
        )


# Bookkeeping of the server (the lease, the queue, the caller's address): stored on the job,
# never shown by the API.
SERVER_ONLY_FIELDS = frozenset(
    {
        "ip_address",
        "lease_expires_at",
        "lease_token",
        "run",
        "enqueued_at",
        "reserved_tokens",
        "settled_tokens",
        "budget_day",
        "notify",
    }
)


class Job(_Camel):
    """generationJobs/{jobId}. Absent optional fields are None here and omitted in Firestore."""

    user_id: str
    prompt: str
    status: JobStatus
    phase: JobPhase | None = None
    questions_generated: int = 0
    questions_saved: int = 0
    questions_rejected: int = 0
    estimated_total: int | None = None
    topic: str | None = None
    question_ids: list[str] = Field(default_factory=list)
    duration_ms: int | None = None
    error_message: str | None = None
    error_code: str | None = None
    retryable: bool | None = None
    last_error_code: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    ip_address: str | None = None
    attempts: int = 0
    # Incremented each time the job is handed to the queue afresh; part of the task name, so a
    # re-run gets a new task while a duplicate enqueue of the same run is deduplicated.
    run: int = 0
    # When the job was last handed to the queue (created, retried, or waiting for redelivery):
    # the recovery sweep re-enqueues a pending job whose task was lost long after this.
    enqueued_at: datetime | None = None
    lease_expires_at: datetime | None = None
    # Fencing token of the worker holding the lease: every worker write checks it.
    lease_token: str | None = None
    usage: Usage | None = None
    model: str | None = None
    # Token budget bookkeeping (domain/budgets.py): what the job holds of its learner's
    # budget for `budget_day`, and how many of its tokens have been recorded as spent.
    reserved_tokens: int = 0
    settled_tokens: int = 0
    budget_day: str | None = None
    # The learner had notifications on, with a device, when the job was created: its end is
    # written to the notification outbox (domain/notifications.py).
    notify: bool | None = None

    # ----- the predicates every rule is written with (one definition each) ----------------

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def needs_plan(self) -> bool:
        """No attempt has fixed the topic and the number of questions yet."""
        return not (self.estimated_total and self.topic)

    def question_bounds(
        self, cap: int, *, committed: int = 0, exact: bool = False
    ) -> QuestionBounds:
        """Where its question documents can be: at least the count it shows, or the count its
        running attempt has seen committed (neither runs ahead of them; the job's copy lags
        while a fast model streams), at most its plan (or ``cap``, the most any job may have).
        ``exact``: ``committed`` is an attempt's whole account, every commit of it answered
        after its claim had fenced out any earlier one, so nothing lies beyond it."""
        known = max(self.questions_saved, committed)
        return QuestionBounds(known=known, upto=known if exact else self.estimated_total or cap)

    def lease_expired(self, now: datetime) -> bool:
        return self.lease_expires_at is not None and self.lease_expires_at <= now

    def changed(self, **fields: object) -> Job:
        """A copy with ``fields`` replaced (None removes an optional field)."""
        return self.model_copy(update=fields)


class QuestionBounds(NamedTuple):
    known: int
    upto: int


@dataclass(frozen=True)
class StoredJob:
    """A job with its document id."""

    job_id: str
    job: Job


@dataclass(frozen=True)
class Lease:
    """A worker's hold on one attempt of a job: its fencing token and attempt number."""

    job_id: str
    token: str
    attempt: int


class StopReason(StrEnum):
    """Why an attempt may write nothing more."""

    CANCELLED = "cancelled"
    LEASE_LOST = "lease_lost"


class AttemptStoppedError(Exception):
    """The job was cancelled or another delivery took the lease: this attempt must stop."""

    def __init__(self, reason: StopReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


def task_id_for(job_id: str, run: int) -> str:
    """Cloud Tasks task id for one run of a job: deterministic, so enqueueing twice is a no-op."""
    return f"{job_id}-run{run}"


def question_id(job_id: str, position: int) -> str:
    """Deterministic per job and position: a redelivered batch rewrites, never duplicates."""
    return f"{job_id}-q{position:03d}"
