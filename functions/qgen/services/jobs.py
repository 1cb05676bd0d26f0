"""Job use cases for the public API: create, list, read, cancel."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from ..adapters.clock import Clock
from ..adapters.firestore_store import (
    Admission,
    FirestoreStore,
    IdempotencyClaim,
    StoredJob,
    expiry,
    job_not_found,
)
from ..adapters.task_queue import QueueUnavailableError, TaskQueue
from ..config import Settings
from ..domain.errors import DomainError, ErrorCode
from ..domain.jobs import JobStatus, new_pending_job, task_id_for
from ..domain.limits import (
    RateScope,
    RateWindow,
    idempotency_document_id,
    normalise_prompt,
    request_fingerprint,
    window_for,
)
from .user_locks import StripedLocks

log = logging.getLogger(__name__)

QUEUE_UNAVAILABLE_MESSAGE = (
    "The job could not be queued for generation. Nothing was generated; retry in a minute."
)
# Visible ASCII only: keys are opaque client tokens (typically UUIDs) and become hash input.
IDEMPOTENCY_KEY_PATTERN = re.compile(r"[!-~]{1,255}")


@dataclass(frozen=True)
class CreateRequest:
    user_id: str
    prompt: str
    client_ip: str
    idempotency_key: str | None = None


class JobService:
    def __init__(
        self, *, store: FirestoreStore, queue: TaskQueue, settings: Settings, clock: Clock
    ) -> None:
        self._store = store
        self._queue = queue
        self._settings = settings
        self._clock = clock
        self._admission_locks = StripedLocks()

    def create(self, request: CreateRequest) -> Admission:
        s = self._settings
        prompt = normalise_prompt(
            request.prompt, min_length=s.min_prompt_length, max_length=s.max_prompt_length
        )
        now = self._clock()
        claim = self._idempotency_claim(request, prompt, now)
        windows = self._windows(request.user_id, request.client_ip, now)
        job = new_pending_job(
            user_id=request.user_id, prompt=prompt, created_at=now, ip_address=request.client_ip
        )
        with self._admission_locks.hold(request.user_id):
            admission = self._store.admit_job(
                job_id=self._store.new_job_id(),
                job=job,
                windows=windows,
                max_active=s.max_concurrent_per_user,
                now=now,
                idempotency=claim,
            )
        stored = admission.stored
        log.info(
            "job admitted" if not admission.replayed else "job request replayed",
            extra={"jobId": stored.job_id, "userId": request.user_id, "event": "job.created"},
        )
        # A replayed request re-enqueues a still-pending job: if the first call died between
        # its commit and its enqueue, this finishes it; otherwise task-name dedup makes it a no-op.
        if stored.job.status is JobStatus.PENDING:
            stored = self._enqueue(stored)
        if stored.job.status is JobStatus.FAILED and not admission.replayed:
            raise DomainError(
                ErrorCode.QUEUE_UNAVAILABLE,
                QUEUE_UNAVAILABLE_MESSAGE,
                details={"jobId": stored.job_id},
                retry_after_seconds=30,
            )
        return Admission(stored, admission.replayed)

    def _windows(self, user_id: str, client_ip: str, now: datetime) -> list[RateWindow]:
        s = self._settings
        return [
            window_for(
                RateScope.USER,
                user_id,
                limit=s.user_rate_limit,
                window_seconds=s.user_rate_window_seconds,
                now=now,
            ),
            window_for(
                RateScope.IP,
                client_ip,
                limit=s.ip_rate_limit,
                window_seconds=s.ip_rate_window_seconds,
                now=now,
            ),
        ]

    def _idempotency_claim(
        self, request: CreateRequest, prompt: str, now: datetime
    ) -> IdempotencyClaim | None:
        key = request.idempotency_key
        if key is None:
            return None
        if not IDEMPOTENCY_KEY_PATTERN.fullmatch(key):
            raise DomainError(
                ErrorCode.INVALID_ARGUMENT,
                "Idempotency-Key must be 1..255 visible ASCII characters (a UUID works well).",
                details={"field": "Idempotency-Key"},
            )
        return IdempotencyClaim(
            document_id=idempotency_document_id(request.user_id, key),
            key=key,
            fingerprint=request_fingerprint(prompt),
            expires_at=expiry(now, self._settings.idempotency_ttl_seconds),
        )

    def _enqueue(self, stored: StoredJob) -> StoredJob:
        try:
            self._queue.enqueue(task_id_for(stored.job_id, stored.job.run), stored.job_id)
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
            failed = self._store.fail_unqueued_job(
                stored.job_id,
                code=ErrorCode.QUEUE_UNAVAILABLE,
                message=QUEUE_UNAVAILABLE_MESSAGE,
                now=self._clock(),
            )
            return failed or stored
        return stored

    def list(self, user_id: str, limit: int | None) -> list[StoredJob]:
        s = self._settings
        size = s.list_default_limit if limit is None else limit
        if not 1 <= size <= s.list_max_limit:
            raise DomainError(
                ErrorCode.INVALID_ARGUMENT,
                f"limit must be between 1 and {s.list_max_limit}.",
                details={"field": "limit"},
            )
        return self._store.list_jobs(user_id, size)

    def get(self, user_id: str, job_id: str) -> StoredJob:
        stored = self._store.get_job(job_id)
        if stored is None or stored.job.user_id != user_id:
            raise job_not_found()
        return stored

    def cancel(self, user_id: str, job_id: str) -> StoredJob:
        stored = self._store.cancel_job(job_id, user_id=user_id, now=self._clock())
        log.info(
            "job cancelled",
            extra={"jobId": job_id, "userId": user_id, "event": "job.cancelled"},
        )
        return stored

    def retry(self, user_id: str, job_id: str, client_ip: str) -> StoredJob:
        """Re-run a failed, retryable job: same job, a new run (and task name), same limits."""
        now = self._clock()
        with self._admission_locks.hold(user_id):
            stored = self._store.admit_retry(
                job_id,
                user_id=user_id,
                windows=self._windows(user_id, client_ip, now),
                max_active=self._settings.max_concurrent_per_user,
                now=now,
            )
        log.info(
            "job retried by its owner",
            extra={
                "jobId": job_id,
                "userId": user_id,
                "run": stored.job.run,
                "event": "job.retried",
            },
        )
        stored = self._enqueue(stored)
        if stored.job.status is JobStatus.FAILED:
            raise DomainError(
                ErrorCode.QUEUE_UNAVAILABLE,
                QUEUE_UNAVAILABLE_MESSAGE,
                details={"jobId": stored.job_id},
                retry_after_seconds=30,
            )
        return stored
