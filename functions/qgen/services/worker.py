"""The worker's use case: run one delivery of a job, from lease to completion or failure."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from ..config import Settings
from ..domain import transitions
from ..domain.budgets import service_exhausted
from ..domain.failures import FailureCode, ModelError, failure_for, retry_delay
from ..domain.jobs import (
    AttemptStoppedError,
    Job,
    JobStatus,
    StopReason,
    StoredJob,
    Usage,
    task_id_for,
)
from ..domain.transitions import ClaimKind
from .attempt_writes import AttemptEnd, AttemptWrites
from .notifications import NotificationSender
from .ports import (
    Clock,
    JobReader,
    JobTransaction,
    Model,
    QueueUnavailableError,
    TaskQueue,
    UnitOfWork,
)
from .question_stream import QuestionStream
from .shared_commits import SharedCommits
from .spend_gauge import SpendGauge

log = logging.getLogger(__name__)


class DeliveryOutcome(StrEnum):
    COMPLETED = "completed"
    RETRYING = "retrying"  # a retryable failure with deliveries left: Cloud Tasks redelivers
    FAILED = "failed"
    CANCELLED = StopReason.CANCELLED.value
    LEASE_LOST = StopReason.LEASE_LOST.value
    # A retryable failure whose model asked for a wait: the job is queued again under a new
    # task to run after it, and this delivery ends (2xx), so the queue is not slowed down.
    RESCHEDULED = "rescheduled"
    DUPLICATE = ClaimKind.DUPLICATE.value
    TERMINAL = ClaimKind.TERMINAL.value
    MISSING = ClaimKind.MISSING.value


class DeliveryResult(NamedTuple):
    outcome: DeliveryOutcome
    job_id: str
    error_code: FailureCode | None = None

    @property
    def retry(self) -> bool:
        """Ask Cloud Tasks to deliver again (a non-2xx answer)."""
        return self.outcome is DeliveryOutcome.RETRYING


@dataclass
class _Attempt:
    """One claimed attempt: its writes, and what it used and saved (for its log event)."""

    writes: AttemptWrites
    job: Job
    started: float
    # The stream's usage is cumulative: its last report is the attempt's whole use.
    usage: Usage | None = None
    stream: QuestionStream | None = None  # once the model was called
    saved: int = 0
    rejected: int = 0

    def end(self) -> AttemptEnd:
        return self.stream.end() if self.stream is not None else AttemptEnd()

    def log_fields(self) -> dict[str, object]:
        lease = self.writes.lease
        fields: dict[str, object] = {
            "jobId": lease.job_id,
            "userId": self.job.user_id,
            "attempt": lease.attempt,
            "durationMs": int((time.monotonic() - self.started) * 1000),
            "usage": self.usage.model_dump(by_alias=True) if self.usage else None,
        }
        first = self.stream.first_question_at if self.stream is not None else None
        if first is not None:
            # Claim -> the job's first question handed to the writer (one commit from the learner).
            fields["firstQuestionMs"] = int((first - self.started) * 1000)
        return fields


@dataclass
class WorkerService:
    uow: UnitOfWork
    reader: JobReader
    model: Model
    settings: Settings
    clock: Clock
    # Where a job is queued again after a wait; None: every retry is Cloud Tasks' redelivery.
    queue: TaskQueue | None = None
    # Hands a job's end notification to FCM right after the commit; None: notifications off.
    notifications: NotificationSender | None = None
    _spend: SpendGauge = field(init=False)
    _commits: SharedCommits = field(init=False)  # shared by the attempts it runs at once

    def __post_init__(self) -> None:
        self._commits = SharedCommits(self.uow)
        self._spend = SpendGauge(
            self.reader, self.clock, max_age_seconds=self.settings.spend_reading_max_age_seconds
        )

    def process(self, job_id: str) -> DeliveryResult:
        attempt = self._claim(job_id)
        if isinstance(attempt, DeliveryResult):
            return attempt
        try:
            try:
                ended = self._run(attempt)
            except ModelError as error:
                return self._fail(attempt, error)
        except AttemptStoppedError as stop:
            log.info(
                "attempt stopped",
                extra={
                    "jobId": job_id,
                    "attempt": attempt.writes.lease.attempt,
                    "event": f"worker.{stop.reason.value}",
                },
            )
            return DeliveryResult(DeliveryOutcome(stop.reason.value), job_id)
        log.info(
            "job completed",
            extra={
                **attempt.log_fields(),
                "event": "job.completed",
                "questionsSaved": attempt.saved,
                "questionsRejected": attempt.rejected,
            },
        )
        self._notify(job_id, ended)
        return DeliveryResult(DeliveryOutcome.COMPLETED, job_id)

    def _notify(self, job_id: str, job: Job) -> None:
        if self.notifications is not None:
            self.notifications.job_ended(StoredJob(job_id, job))

    def _claim(self, job_id: str) -> _Attempt | DeliveryResult:
        s, now, token = self.settings, self.clock(), uuid.uuid4().hex

        def claim(tx: JobTransaction) -> transitions.Claim:
            job = tx.get_job(job_id)
            decision = transitions.claim(
                job_id, job, now=now, lease_seconds=s.lease_seconds, token=token
            )
            if job is not None and decision.job is not None and decision.kind is ClaimKind.CLAIMED:
                tx.save_job(job_id, job, decision.job)
            return decision

        decision = self.uow.run(claim)
        if decision.lease is None or decision.job is None:
            # Missing, terminal, or another delivery holds a live lease: acknowledge, no rerun.
            log.info(
                "delivery acknowledged without work",
                extra={"jobId": job_id, "event": f"worker.{decision.kind.value}"},
            )
            return DeliveryResult(DeliveryOutcome(decision.kind.value), job_id)
        log.info(
            "job claimed",
            extra={
                "jobId": job_id,
                "userId": decision.job.user_id,
                "attempt": decision.lease.attempt,
                "event": "job.processing",
            },
        )
        writes = AttemptWrites(self._commits, decision.lease, clock=self.clock, settings=s)
        return _Attempt(writes, decision.job, started=time.monotonic())

    def _run(self, attempt: _Attempt) -> Job:
        spent_today = self._spend.spent_today()
        if service_exhausted(spent_today, ceiling=self.settings.project_daily_token_ceiling):
            # No new model call once the project's day is spent; the job waits (retryable).
            raise ModelError(FailureCode.SERVICE_BUDGET, "project daily token ceiling")
        stream = QuestionStream(self.model, attempt.writes, self.reader, settings=self.settings)
        try:
            stream.run(attempt.job)
        finally:
            attempt.stream, attempt.usage = stream, stream.usage
            attempt.saved, attempt.rejected = stream.saved, stream.rejected
        return attempt.writes.complete(attempt.end(), model=stream.model_used or self.model.model)

    def _fail(self, attempt: _Attempt, error: ModelError) -> DeliveryResult:
        failure = failure_for(error.code, error.detail)
        s = self.settings
        delay = retry_delay(
            error.retry_after_seconds,
            attempt=attempt.writes.lease.attempt,
            base=s.retry_backoff_seconds,
            cap=s.max_retry_delay_seconds,
        )
        reschedule = self.queue is not None
        ended = attempt.writes.fail(
            failure,
            attempt.end(),
            max_attempts=self.settings.max_attempts,
            new_run=reschedule,
            retry_in=delay if reschedule else 0,
        )
        final = ended.status is JobStatus.FAILED
        outcome = DeliveryOutcome.FAILED if final else DeliveryOutcome.RETRYING
        if not final and reschedule and self._requeue(attempt, ended, delay):
            outcome = DeliveryOutcome.RESCHEDULED
        log.warning(
            "job attempt failed",
            extra={
                **attempt.log_fields(),
                "event": "job.failed" if final else "job.retrying",
                "errorCode": failure.code.value,
                "retryable": failure.retryable,
                "retryDelaySeconds": delay,
            },
        )
        self._notify(attempt.writes.lease.job_id, ended)
        return DeliveryResult(outcome, attempt.writes.lease.job_id, failure.code)

    def _requeue(self, attempt: _Attempt, job: Job, delay: float) -> bool:
        """Queue the job's new run after ``delay``; False (let Cloud Tasks redeliver) if the
        queue cannot take it now."""
        assert self.queue is not None
        job_id = attempt.writes.lease.job_id
        try:
            self.queue.enqueue(task_id_for(job_id, job.run), job_id, delay_seconds=delay)
        except QueueUnavailableError:
            return False
        return True
