"""The generation job: its document model and its state machine."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

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


def slot_delta(current: JobStatus, target: JobStatus) -> int:
    """How a move changes the owner's active-job count: +1, -1 or 0.

    Raises IllegalTransitionError for a move the state machine does not allow, so a caller can
    never adjust the counter for a transition that did not happen.
    """
    if target not in _TRANSITIONS[current]:
        raise IllegalTransitionError(current, target)
    return int(target in ACTIVE_STATUSES) - int(current in ACTIVE_STATUSES)


def is_cancellable(status: JobStatus) -> bool:
    return JobStatus.CANCELLED in _TRANSITIONS[status]


class Usage(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    prompt_tokens: int = 0
    output_tokens: int = 0


class Job(BaseModel):
    """generationJobs/{jobId}. Field names are the data contract (camelCase in Firestore)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

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

    def to_document(self) -> dict[str, object]:
        return self.model_dump(by_alias=True, exclude_none=True)


def new_pending_job(
    *, user_id: str, prompt: str, created_at: datetime, ip_address: str | None
) -> Job:
    return Job(
        user_id=user_id,
        prompt=prompt,
        status=JobStatus.PENDING,
        created_at=created_at,
        enqueued_at=created_at,
        ip_address=ip_address,
    )


def task_id_for(job_id: str, run: int) -> str:
    """Cloud Tasks task id for one run of a job: deterministic, so enqueueing twice is a no-op."""
    return f"{job_id}-run{run}"
