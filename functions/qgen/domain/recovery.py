"""The recovery sweep's transitions: jobs whose worker or whose task was lost. Pure."""

from __future__ import annotations

from datetime import datetime

from .failures import FailureCode, failure_for, is_final
from .jobs import Job, JobStatus
from .transitions import fail_attempt


def requeue_stale(
    job: Job, *, now: datetime, stale_before: datetime, max_attempts: int
) -> Job | None:
    """A pending job whose task has not run long after it was due: a new run (a new task
    name), counted as an attempt — its deliveries were used up before any claim could count
    them — or, past the last attempt, failed (retryable). None if it moved on meanwhile."""
    due = job.enqueued_at
    if job.status is not JobStatus.PENDING or due is None or due >= stale_before:
        return None
    undelivered = failure_for(FailureCode.UNDELIVERED)
    counted_job = job.changed(attempts=job.attempts + 1)
    if is_final(undelivered, attempt=counted_job.attempts, max_attempts=max_attempts):
        return fail_attempt(counted_job, undelivered, now=now, max_attempts=max_attempts)
    return counted_job.changed(run=job.run + 1, enqueued_at=now)


def recover_lost_worker(
    job: Job, *, now: datetime, max_attempts: int, question_ids: list[str] | None = None
) -> Job | None:
    """A processing job whose lease ran out: requeued or failed, its saved questions counted
    from ``question_ids`` (the lost worker may have saved some since the job last showed
    them); None if it moved on."""
    if job.status is not JobStatus.PROCESSING or not job.lease_expired(now):
        return None
    lost = failure_for(FailureCode.WORKER_LOST)
    return fail_attempt(
        job, lost, now=now, max_attempts=max_attempts, new_run=True, question_ids=question_ids
    )
