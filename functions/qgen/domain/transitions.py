"""Every change of a job's life, as pure functions: the job in, the new job (or a refusal) out.

Callers load a job in a unit of work, ask one of these, and save what changed; the unit of
work moves the owner's counter and budget from what changed (`counter_delta`, `budget_delta`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from .budgets import reserve, settle
from .errors import DomainError, ErrorCode, job_not_found
from .failures import Failure, is_final
from .jobs import (
    AttemptStoppedError,
    Job,
    JobPhase,
    JobStatus,
    Lease,
    StopReason,
    Usage,
    is_cancellable,
)
from .prompts import Plan

# ----- the learner's side -------------------------------------------------------------------


def admit(
    *, user_id: str, prompt: str, now: datetime, ip_address: str | None, reservation: int = 0
) -> Job:
    job = Job(
        user_id=user_id,
        prompt=prompt,
        status=JobStatus.PENDING,
        created_at=now,
        enqueued_at=now,
        ip_address=ip_address,
    )
    return reserve(job, tokens=reservation, now=now) if reservation else job


def owned(job: Job | None, user_id: str) -> Job:
    """The job if ``user_id`` owns it. Someone else's job reads as missing: ids are no oracle."""
    if job is None or job.user_id != user_id:
        raise job_not_found()
    return job


def cancel(job: Job, *, now: datetime, question_ids: list[str] | None = None) -> Job:
    if not is_cancellable(job.status):
        raise DomainError(
            ErrorCode.NOT_CANCELLABLE,
            f"This job is already {job.status.value} and cannot be cancelled.",
            details={"status": job.status.value},
        )
    # The partial questions are kept, counted from their documents when given.
    return counted(settle(job.changed(status=JobStatus.CANCELLED, completed_at=now)), question_ids)


def retry(job: Job, *, now: datetime, reservation: int = 0) -> Job:
    """A failed, retryable job goes back to the queue as a new run with fresh attempts."""
    if job.status is not JobStatus.FAILED or not job.retryable:
        raise DomainError(
            ErrorCode.NOT_RETRYABLE,
            "Only a job that failed with a temporary error can be retried.",
            details={"status": job.status.value, "retryable": bool(job.retryable)},
        )
    retried = job.changed(
        status=JobStatus.PENDING,
        run=job.run + 1,
        attempts=0,
        enqueued_at=now,
        error_code=None,
        error_message=None,
        retryable=None,
        last_error_code=None,
        completed_at=None,
    )
    return reserve(retried, tokens=reservation, now=now) if reservation else retried


def fail_unqueued(job: Job, *, code: ErrorCode, message: str, now: datetime) -> Job | None:
    """A pending job whose task could not be created fails (retryable); None if it moved on."""
    if job.status is not JobStatus.PENDING:
        return None
    failed = job.changed(
        status=JobStatus.FAILED,
        error_code=code.value,
        last_error_code=code.value,
        error_message=message,
        retryable=True,
        completed_at=now,
    )
    return settle(failed)


# ----- the worker's side --------------------------------------------------------------------


class ClaimKind(StrEnum):
    CLAIMED = "claimed"
    DUPLICATE = "duplicate"  # another delivery holds a live lease
    TERMINAL = "terminal"  # completed, failed or cancelled: nothing to do
    MISSING = "missing"


@dataclass(frozen=True)
class Claim:
    kind: ClaimKind
    job: Job | None = None
    lease: Lease | None = None


def claim(job_id: str, job: Job | None, *, now: datetime, lease_seconds: int, token: str) -> Claim:
    if job is None:
        return Claim(ClaimKind.MISSING)
    if job.is_terminal:
        return Claim(ClaimKind.TERMINAL, job)
    if job.status is JobStatus.PROCESSING and not job.lease_expired(now):
        return Claim(ClaimKind.DUPLICATE, job)
    attempt = job.attempts + 1
    claimed = job.changed(
        status=JobStatus.PROCESSING,
        attempts=attempt,
        lease_token=token,
        lease_expires_at=now + timedelta(seconds=lease_seconds),
        phase=JobPhase.CLARIFYING if job.needs_plan else JobPhase.GENERATING,
        started_at=job.started_at or now,
    )
    return Claim(ClaimKind.CLAIMED, claimed, Lease(job_id, token, attempt))


def held(job: Job | None, lease: Lease) -> Job:
    """The job, if ``lease`` still holds it; else raise AttemptStoppedError (write nothing)."""
    if job is not None and job.status is JobStatus.CANCELLED:
        raise AttemptStoppedError(StopReason.CANCELLED)
    if job is None or job.status is not JobStatus.PROCESSING or job.lease_token != lease.token:
        raise AttemptStoppedError(StopReason.LEASE_LOST)
    return job


def renewed(job: Job, *, now: datetime, lease_seconds: int) -> Job:
    return job.changed(lease_expires_at=now + timedelta(seconds=lease_seconds))


def plan(job: Job, plan: Plan) -> Job:
    return job.changed(topic=plan.topic, estimated_total=plan.total, phase=JobPhase.GENERATING)


def plan_of(job: Job) -> Plan | None:
    """The plan an earlier attempt fixed, if any."""
    if job.needs_plan:
        return None
    return Plan(topic=job.topic or "", total=job.estimated_total or 0)


def progress(job: Job, *, question_ids: list[str], generated: int, rejected: int) -> Job:
    """The counts as they stand: the questions saved so far (their documents are the truth;
    this copy may lag them by a second) and the items the parser judged, over all attempts."""
    return counted(job, question_ids).changed(
        questions_generated=generated, questions_rejected=rejected
    )


def complete(
    job: Job, *, question_ids: list[str], now: datetime, usage: Usage | None, model: str
) -> Job:
    """Done: the saved questions counted from their documents. A model that finished short of
    its plan delivered the job: the planned total becomes what was saved (a completed job
    always has every question it planned)."""
    started = job.started_at or job.created_at
    ended = counted(_ended(job, usage), question_ids)
    if ended.estimated_total is not None and len(question_ids) < ended.estimated_total:
        ended = ended.changed(estimated_total=len(question_ids))
    return settle(ended).changed(
        status=JobStatus.COMPLETED,
        phase=JobPhase.FINALIZING,
        completed_at=now,
        duration_ms=int((now - started).total_seconds() * 1000),
        model=model,
    )


def fill_in_wanted(
    *, planned: int, delivered: int, rejected: int, attempt: int, max_attempts: int
) -> bool:
    """A stream that finished short of its plan because items were thrown away (malformed,
    duplicates) is worth another attempt, which asks for the rest, while attempts remain. A
    model that simply stopped early, or the last attempt, completes with what it delivered."""
    return delivered < planned and rejected > 0 and attempt < max_attempts


def fail_attempt(
    job: Job,
    failure: Failure,
    *,
    now: datetime,
    max_attempts: int,
    usage: Usage | None = None,
    new_run: bool = False,
    question_ids: list[str] | None = None,
    retry_at: datetime | None = None,
) -> Job:
    """Back to pending for another delivery, or failed for good (the one finality rule).

    ``new_run``: the old task is gone (the recovery sweep found the worker lost), so the job
    needs a new task name; a worker's own failure is redelivered by its task instead.
    """
    ended = _ended(job, usage).changed(
        last_error_code=failure.code.value, error_message=failure.message
    )
    ended = counted(ended, question_ids)
    if is_final(failure, attempt=job.attempts, max_attempts=max_attempts):
        return settle(ended).changed(
            status=JobStatus.FAILED,
            error_code=failure.code.value,
            retryable=failure.retryable,
            completed_at=now,
        )
    # `enqueued_at`: when the next attempt is due (the stale sweep measures from it).
    return ended.changed(
        status=JobStatus.PENDING,
        enqueued_at=retry_at or now,
        run=job.run + 1 if new_run else job.run,
    )


def counted(job: Job, question_ids: list[str] | None) -> Job:
    """The job's saved questions as counted (None: as they stand)."""
    if question_ids is None:
        return job
    return job.changed(questions_saved=len(question_ids), question_ids=list(question_ids))


def _ended(job: Job, usage: Usage | None) -> Job:
    """The attempt is over: the lease goes, this attempt's tokens are added to the job's."""
    total = job.usage if usage is None else (job.usage or Usage()) + usage
    return job.changed(lease_token=None, lease_expires_at=None, usage=total)
