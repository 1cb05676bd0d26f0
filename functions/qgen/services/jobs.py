"""Job use cases of the public API: create, list, read, cancel, retry."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..config import Settings
from ..domain import transitions
from ..domain.errors import DomainError, ErrorCode
from ..domain.jobs import Job, JobStatus, StoredJob, task_id_for
from ..domain.limits import (
    AdmissionState,
    idempotency_claim,
    normalise_prompt,
    replayed_job_id,
)
from .admission import Check, admission_check
from .allowance import Allowance, allowance
from .notifications import NotificationSender
from .ports import Clock, JobReader, JobTransaction, QueueUnavailableError, TaskQueue, UnitOfWork
from .spend_gauge import SpendGauge
from .user_locks import StripedLocks

log = logging.getLogger(__name__)

QUEUE_UNAVAILABLE_MESSAGE = (
    "The job could not be queued for generation. Nothing was generated; retry in a minute."
)


@dataclass(frozen=True)
class CreateRequest:
    user_id: str
    prompt: str
    client_ip: str
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Admission:
    stored: StoredJob
    # True when an Idempotency-Key matched an earlier request: nothing new was written.
    replayed: bool


@dataclass
class JobService:
    uow: UnitOfWork
    reader: JobReader
    queue: TaskQueue
    settings: Settings
    clock: Clock
    # Hands a cancelled job's notification to FCM after the commit; None: notifications off.
    notifications: NotificationSender | None = None
    # Per-user serialisation inside one instance. Correctness never depends on it (the
    # transaction enforces every limit); it spares a burst the aborted transactions.
    _admission_locks: StripedLocks = field(default_factory=StripedLocks, init=False)
    # The project's spend, read at most every few seconds per instance (the ceiling is coarse).
    _spend: SpendGauge = field(init=False)

    def __post_init__(self) -> None:
        self._spend = SpendGauge(
            self.reader, self.clock, max_age_seconds=self.settings.spend_reading_max_age_seconds
        )

    # ----- create --------------------------------------------------------------------------

    def create(self, request: CreateRequest) -> Admission:
        s = self.settings
        prompt = normalise_prompt(
            request.prompt, min_length=s.min_prompt_length, max_length=s.max_prompt_length
        )
        now = self.clock()
        claim = idempotency_claim(
            request.user_id,
            request.idempotency_key,
            prompt=prompt,
            expires_at=now + timedelta(seconds=s.idempotency_ttl_seconds),
        )
        check = self._admission_check(request.user_id, request.client_ip, now)
        job = transitions.admit(
            user_id=request.user_id,
            prompt=prompt,
            now=now,
            ip_address=request.client_ip,
            reservation=s.job_token_reservation,
        )
        job_id = self.uow.new_job_id()

        def admit(tx: JobTransaction) -> Admission:
            if claim is not None:
                replay = replayed_job_id(tx.read_idempotency(claim), claim, now)
                earlier = tx.get_job(replay) if replay is not None else None
                if replay is not None and earlier is not None:
                    return Admission(StoredJob(replay, earlier), replayed=True)
            state = check(tx)
            tx.add_job(job_id, self._notifying(job, state))
            tx.consume_quota(state)
            if claim is not None:
                tx.record_idempotency(claim, job_id=job_id, user_id=request.user_id, now=now)
            return Admission(StoredJob(job_id, job), replayed=False)

        with self._admission_locks.hold(request.user_id):
            admission = self.uow.run(admit)
        stored = admission.stored
        log.info(
            "job admitted" if not admission.replayed else "job request replayed",
            extra={"jobId": stored.job_id, "userId": request.user_id, "event": "job.created"},
        )
        # A replayed request re-enqueues a still-pending job: if the first call died between
        # its commit and its enqueue, this finishes it; otherwise task-name dedup makes it a no-op.
        if stored.job.status is JobStatus.PENDING:
            stored = self._enqueue(stored, raise_on_failure=not admission.replayed)
        return Admission(stored, admission.replayed)

    def _admission_check(self, user_id: str, client_ip: str, now: datetime) -> Check:
        return admission_check(
            self.settings,
            self.reader,
            spent_today=self._spend.spent_today(),
            user_id=user_id,
            client_ip=client_ip,
            now=now,
        )

    def _notifying(self, job: Job, state: AdmissionState) -> Job:
        """The job, marked to notify its end if the learner's devices can be reached now."""
        notify = self.notifications is not None and state.reachable
        return job.changed(notify=notify or None)

    def _enqueue(self, stored: StoredJob, *, raise_on_failure: bool = True) -> StoredJob:
        """Hand the job's current run to the queue; if that fails, the job fails (retryable)."""
        try:
            self.queue.enqueue(task_id_for(stored.job_id, stored.job.run), stored.job_id)
            return stored
        except QueueUnavailableError as exc:
            log.error(
                "enqueue failed; job marked failed",
                extra={
                    "jobId": stored.job_id,
                    "userId": stored.job.user_id,
                    "event": "job.failed",
                    "errorCode": ErrorCode.QUEUE_UNAVAILABLE.value,
                    "retryable": True,
                    "cause": str(exc),
                },
            )
        failed = self._fail_unqueued(stored.job_id)
        if failed is not None and failed.job.status is JobStatus.FAILED and raise_on_failure:
            raise DomainError(
                ErrorCode.QUEUE_UNAVAILABLE,
                QUEUE_UNAVAILABLE_MESSAGE,
                details={"jobId": stored.job_id},
                retry_after_seconds=30,
            )
        return failed or stored

    def _fail_unqueued(self, job_id: str) -> StoredJob | None:
        now = self.clock()

        def fail(tx: JobTransaction) -> StoredJob | None:
            job = tx.get_job(job_id)
            if job is None:
                return None
            failed = transitions.fail_unqueued(
                job, code=ErrorCode.QUEUE_UNAVAILABLE, message=QUEUE_UNAVAILABLE_MESSAGE, now=now
            )
            if failed is None:  # something newer moved it on: that state wins
                return StoredJob(job_id, job)
            tx.save_job(job_id, job, failed)
            return StoredJob(job_id, failed)

        return self.uow.run(fail)

    # ----- read ----------------------------------------------------------------------------

    def list(self, user_id: str, limit: int | None) -> list[StoredJob]:
        s = self.settings
        size = s.list_default_limit if limit is None else limit
        if not 1 <= size <= s.list_max_limit:
            raise DomainError(
                ErrorCode.INVALID_ARGUMENT,
                f"limit must be between 1 and {s.list_max_limit}.",
                details={"field": "limit"},
            )
        return self.reader.list_jobs(user_id, size)

    def get(self, user_id: str, job_id: str) -> StoredJob:
        stored = self.reader.get_job(job_id)
        return StoredJob(job_id, transitions.owned(stored.job if stored else None, user_id))

    def limits(self, user_id: str) -> Allowance:
        return allowance(self.settings, self.reader, user_id=user_id, now=self.clock())

    # ----- cancel / retry ------------------------------------------------------------------

    def cancel(self, user_id: str, job_id: str) -> StoredJob:
        now = self.clock()

        def cancel(tx: JobTransaction) -> StoredJob:
            job = transitions.owned(tx.get_job(job_id), user_id)
            # The partial questions are kept: the job counts their documents as it ends.
            bounds = job.question_bounds(self.settings.max_questions_per_job)
            processing = job.status is JobStatus.PROCESSING
            ids = tx.saved_question_ids(job_id, bounds) if processing else None
            cancelled = transitions.cancel(job, now=now, question_ids=ids)
            tx.save_job(job_id, job, cancelled)
            return StoredJob(job_id, cancelled)

        stored = self.uow.run(cancel)
        log.info(
            "job cancelled", extra={"jobId": job_id, "userId": user_id, "event": "job.cancelled"}
        )
        if self.notifications is not None:
            self.notifications.job_ended(stored)
        return stored

    def retry(self, user_id: str, job_id: str, client_ip: str) -> StoredJob:
        """Re-run a failed, retryable job: same job, a new run (and task name), same limits."""
        now = self.clock()
        check = self._admission_check(user_id, client_ip, now)

        def retry(tx: JobTransaction) -> StoredJob:
            job = transitions.owned(tx.get_job(job_id), user_id)
            reservation = self.settings.job_token_reservation
            retried = transitions.retry(job, now=now, reservation=reservation)
            state = check(tx)
            tx.save_job(job_id, job, self._notifying(retried, state))
            tx.consume_quota(state)
            return StoredJob(job_id, retried)

        with self._admission_locks.hold(user_id):
            stored = self.uow.run(retry)
        log.info(
            "job retried by its owner",
            extra={
                "jobId": job_id,
                "userId": user_id,
                "run": stored.job.run,
                "event": "job.retried",
            },
        )
        return self._enqueue(stored)
