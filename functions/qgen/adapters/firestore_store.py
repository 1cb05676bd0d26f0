"""Firestore persistence for jobs and their server-only counters.

Each public method is one transaction: it reads what the domain rules need, asks the pure
functions in ``qgen.domain`` for a decision, and writes nothing unless the decision admits it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from google.api_core import exceptions as gexc
from google.cloud import firestore
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from ..domain.errors import DomainError, ErrorCode
from ..domain.jobs import Job, JobStatus, is_cancellable, slot_delta
from ..domain.limits import AdmissionState, RateWindow, check_admission

JOBS = "generationJobs"
ACTIVE_COUNTERS = "activeJobCounters"
RATE_WINDOWS = "rateLimitWindows"
IDEMPOTENCY_KEYS = "idempotencyKeys"

T = TypeVar("T")


@dataclass(frozen=True)
class StoredJob:
    job_id: str
    job: Job


@dataclass(frozen=True)
class IdempotencyClaim:
    document_id: str
    key: str
    fingerprint: str
    expires_at: datetime


@dataclass(frozen=True)
class Admission:
    stored: StoredJob
    # True when an Idempotency-Key matched an earlier request: nothing new was written.
    replayed: bool


def _job_from(snapshot: Any) -> Job:
    return Job.model_validate(snapshot.to_dict())


class FirestoreStore:
    def __init__(self, client: firestore.Client, *, transaction_max_attempts: int = 25) -> None:
        self._db = client
        self._max_attempts = transaction_max_attempts

    # ----- helpers -------------------------------------------------------------------------

    def _run(self, body: Callable[[Any], T]) -> T:
        """Run ``body`` in a transaction, retrying contention with jittered backoff.

        The client's own retry re-commits at once; under a burst on one document that
        livelocks the emulator (every attempt aborts every other), so each attempt here is a
        single-shot transaction and the retries are spread out at random.
        """
        retrying = Retrying(
            retry=retry_if_exception(_is_contention),
            wait=wait_random_exponential(multiplier=0.1, max=3.0),
            stop=stop_after_attempt(self._max_attempts),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    transaction = self._db.transaction(max_attempts=1)
                    result: T = firestore.transactional(body)(transaction)
                    return result
        except (gexc.Aborted, ValueError) as exc:
            if not _is_contention(exc):
                raise
            raise DomainError(
                ErrorCode.CONTENTION,
                "The service is busy with other requests for this account; try again.",
                retry_after_seconds=1,
            ) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")

    def _counter(self, user_id: str) -> Any:
        return self._db.collection(ACTIVE_COUNTERS).document(user_id)

    def _job_ref(self, job_id: str) -> Any:
        return self._db.collection(JOBS).document(job_id)

    def _release_or_take_slot(
        self, transaction: Any, job: Job, target: JobStatus, now: datetime
    ) -> None:
        delta = slot_delta(job.status, target)
        if delta:
            transaction.set(
                self._counter(job.user_id),
                {"activeJobs": firestore.Increment(delta), "updatedAt": now},
                merge=True,
            )

    def new_job_id(self) -> str:
        return str(self._db.collection(JOBS).document().id)

    # ----- reads ---------------------------------------------------------------------------

    def get_job(self, job_id: str) -> StoredJob | None:
        snapshot = self._job_ref(job_id).get()
        return StoredJob(job_id, _job_from(snapshot)) if snapshot.exists else None

    def list_jobs(self, user_id: str, limit: int) -> list[StoredJob]:
        query = (
            self._db.collection(JOBS)
            .where(filter=firestore.FieldFilter("userId", "==", user_id))
            .order_by("createdAt", direction=firestore.Query.DESCENDING)
            .limit(limit)
        )
        return [StoredJob(s.id, _job_from(s)) for s in query.stream()]

    def active_jobs(self, user_id: str) -> int:
        snapshot = self._counter(user_id).get()
        return int((snapshot.to_dict() or {}).get("activeJobs", 0)) if snapshot.exists else 0

    # ----- writes --------------------------------------------------------------------------

    def admit_job(
        self,
        *,
        job_id: str,
        job: Job,
        windows: list[RateWindow],
        max_active: int,
        now: datetime,
        idempotency: IdempotencyClaim | None,
    ) -> Admission:
        """Create a pending job if the owner is under every limit, atomically."""
        quota = _Quota(self._db, job.user_id, windows)
        idem_ref = (
            self._db.collection(IDEMPOTENCY_KEYS).document(idempotency.document_id)
            if idempotency
            else None
        )

        def body(transaction: Any) -> Admission:
            refs = quota.refs + ([idem_ref] if idem_ref else [])
            snapshots = {
                s.reference.path: s for s in self._db.get_all(refs, transaction=transaction)
            }
            if idempotency and idem_ref is not None:
                replay = self._replay(transaction, snapshots[idem_ref.path], idempotency, now)
                if replay is not None:
                    return Admission(replay, replayed=True)
            state = quota.check(snapshots, max_active=max_active, now=now)
            transaction.create(self._job_ref(job_id), job.to_document())
            quota.consume(transaction, state, now=now)
            if idempotency and idem_ref is not None:
                transaction.set(
                    idem_ref,
                    {
                        "userId": job.user_id,
                        "jobId": job_id,
                        "fingerprint": idempotency.fingerprint,
                        "createdAt": now,
                        "expireAt": idempotency.expires_at,
                    },
                )
            return Admission(StoredJob(job_id, job), replayed=False)

        return self._run(body)

    def admit_retry(
        self,
        job_id: str,
        *,
        user_id: str,
        windows: list[RateWindow],
        max_active: int,
        now: datetime,
    ) -> StoredJob:
        """Put a failed, retryable job back in the queue's hands, under the same limits."""
        quota = _Quota(self._db, user_id, windows)
        ref = self._job_ref(job_id)

        def body(transaction: Any) -> StoredJob:
            snapshots = {
                s.reference.path: s
                for s in self._db.get_all([ref, *quota.refs], transaction=transaction)
            }
            snapshot = snapshots[ref.path]
            if not snapshot.exists:
                raise job_not_found()
            job = _job_from(snapshot)
            if job.user_id != user_id:
                raise job_not_found()
            if job.status is not JobStatus.FAILED or not job.retryable:
                raise DomainError(
                    ErrorCode.NOT_RETRYABLE,
                    "Only a job that failed with a temporary error can be retried.",
                    details={"status": job.status.value, "retryable": bool(job.retryable)},
                )
            state = quota.check(snapshots, max_active=max_active, now=now)
            # The quota write sets the counter; slot_delta confirms the move is legal.
            slot_delta(job.status, JobStatus.PENDING)
            quota.consume(transaction, state, now=now)
            updates: dict[str, object] = {
                "status": JobStatus.PENDING.value,
                "run": job.run + 1,
                "attempts": 0,
                "enqueuedAt": now,
                "errorCode": firestore.DELETE_FIELD,
                "errorMessage": firestore.DELETE_FIELD,
                "retryable": firestore.DELETE_FIELD,
                "lastErrorCode": firestore.DELETE_FIELD,
                "completedAt": firestore.DELETE_FIELD,
            }
            transaction.update(ref, updates)
            retried = job.model_copy(
                update={
                    "status": JobStatus.PENDING,
                    "run": job.run + 1,
                    "attempts": 0,
                    "enqueued_at": now,
                    "error_code": None,
                    "error_message": None,
                    "retryable": None,
                    "last_error_code": None,
                    "completed_at": None,
                }
            )
            return StoredJob(job_id, retried)

        return self._run(body)

    def _replay(
        self, transaction: Any, snapshot: Any, claim: IdempotencyClaim, now: datetime
    ) -> StoredJob | None:
        if not snapshot.exists:
            return None
        record = snapshot.to_dict() or {}
        expire_at = record.get("expireAt")
        # TTL deletion lags by up to a day, so an expired record is treated as absent here.
        if isinstance(expire_at, datetime) and expire_at <= now:
            return None
        if record.get("fingerprint") != claim.fingerprint:
            raise DomainError(
                ErrorCode.IDEMPOTENCY_KEY_REUSED,
                "This Idempotency-Key was already used for a different prompt.",
            )
        job_snapshot = self._job_ref(str(record["jobId"])).get(transaction=transaction)
        if not job_snapshot.exists:
            return None
        return StoredJob(job_snapshot.id, _job_from(job_snapshot))

    def fail_unqueued_job(
        self, job_id: str, *, code: ErrorCode, message: str, now: datetime
    ) -> StoredJob | None:
        """Mark a job that never reached the queue as failed (retryable), releasing its slot.

        Only a pending job of the current run is touched: if anything else already moved it on,
        that newer state wins.
        """
        ref = self._job_ref(job_id)

        def body(transaction: Any) -> StoredJob | None:
            snapshot = ref.get(transaction=transaction)
            if not snapshot.exists:
                return None
            job = _job_from(snapshot)
            if job.status is not JobStatus.PENDING:
                return StoredJob(job_id, job)
            self._release_or_take_slot(transaction, job, JobStatus.FAILED, now)
            updates: dict[str, object] = {
                "status": JobStatus.FAILED.value,
                "errorCode": code.value,
                "lastErrorCode": code.value,
                "errorMessage": message,
                "retryable": True,
                "completedAt": now,
            }
            transaction.update(ref, updates)
            return StoredJob(job_id, _updated(job, updates))

        return self._run(body)

    def cancel_job(self, job_id: str, *, user_id: str, now: datetime) -> StoredJob:
        ref = self._job_ref(job_id)

        def body(transaction: Any) -> StoredJob:
            snapshot = ref.get(transaction=transaction)
            if not snapshot.exists:
                raise job_not_found()
            job = _job_from(snapshot)
            if job.user_id != user_id:
                raise job_not_found()
            if not is_cancellable(job.status):
                raise DomainError(
                    ErrorCode.NOT_CANCELLABLE,
                    f"This job is already {job.status.value} and cannot be cancelled.",
                    details={"status": job.status.value},
                )
            self._release_or_take_slot(transaction, job, JobStatus.CANCELLED, now)
            updates: dict[str, object] = {"status": JobStatus.CANCELLED.value, "completedAt": now}
            transaction.update(ref, updates)
            return StoredJob(job_id, _updated(job, updates))

        return self._run(body)


class _Quota:
    """The counter and rate-window documents an admission reads and, if admitted, bumps."""

    def __init__(self, db: Any, user_id: str, windows: list[RateWindow]) -> None:
        self._counter = db.collection(ACTIVE_COUNTERS).document(user_id)
        self._windows = windows
        self._window_refs = [db.collection(RATE_WINDOWS).document(w.document_id) for w in windows]

    @property
    def refs(self) -> list[Any]:
        return [self._counter, *self._window_refs]

    def check(self, snapshots: dict[str, Any], *, max_active: int, now: datetime) -> AdmissionState:
        def count(ref: Any, field: str) -> int:
            snap = snapshots[ref.path]
            return int((snap.to_dict() or {}).get(field, 0)) if snap.exists else 0

        state = AdmissionState(
            active_jobs=count(self._counter, "activeJobs"),
            window_counts={
                w: count(ref, "count")
                for w, ref in zip(self._windows, self._window_refs, strict=True)
            },
        )
        check_admission(state, max_active=max_active, now=now)
        return state

    def consume(self, transaction: Any, state: AdmissionState, *, now: datetime) -> None:
        transaction.set(
            self._counter, {"activeJobs": state.active_jobs + 1, "updatedAt": now}, merge=True
        )
        for window, ref in zip(self._windows, self._window_refs, strict=True):
            transaction.set(
                ref,
                {
                    "scope": str(window.scope),
                    "windowStart": window.start,
                    "count": state.window_counts[window] + 1,
                    # Firestore's TTL policy deletes the window once it can matter no more.
                    "expireAt": window.end,
                },
            )


def _is_contention(exc: BaseException) -> bool:
    # A single-attempt commit that hits ABORTED surfaces as ValueError caused by Aborted.
    return isinstance(exc, gexc.Aborted) or (
        isinstance(exc, ValueError) and isinstance(exc.__cause__, gexc.Aborted)
    )


def job_not_found() -> DomainError:
    # Someone else's job gets the same answer as a missing one: ids are not an oracle.
    return DomainError(ErrorCode.NOT_FOUND, "No such job.")


def _updated(job: Job, updates: dict[str, object]) -> Job:
    """The job as it reads after ``updates`` (Firestore field names) were applied."""
    return Job.model_validate({**job.model_dump(by_alias=True), **updates})


def expiry(now: datetime, seconds: int) -> datetime:
    return now + timedelta(seconds=seconds)
