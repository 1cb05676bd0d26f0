"""Firestore side of the scheduled cleanup: paged deletes, stuck-job recovery, counter repair.

Nothing here loads a whole collection: every query is paged, and deletes go through a
BulkWriter with a last-update-time precondition per document, so a document that changed since
it was read (a failed job the learner just retried) or was already deleted by a concurrent run
is skipped, not deleted or counted twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore import FieldFilter

from ..domain.failures import Failure
from ..domain.jobs import ACTIVE_STATUSES, JobStatus
from .firestore_store import (
    ACTIVE_COUNTERS,
    IDEMPOTENCY_KEYS,
    JOBS,
    RATE_WINDOWS,
    FirestoreStore,
    StoredJob,
    _job_from,
)

log = logging.getLogger(__name__)


def _retry_transient_only(failure: Any, _writer: Any) -> bool:
    """A failed precondition (changed since read, or already gone) is final; retry the rest."""
    final_codes = {5, 9}  # NOT_FOUND, FAILED_PRECONDITION
    return bool(failure.attempts < 3 and failure.code not in final_codes)


@dataclass(frozen=True)
class CounterRepair:
    user_id: str
    recorded: int
    actual: int


class CleanupStore(FirestoreStore):
    def __init__(
        self, client: firestore.Client, *, page_size: int = 300, transaction_max_attempts: int = 12
    ) -> None:
        super().__init__(client, transaction_max_attempts=transaction_max_attempts)
        self._page = page_size

    # ----- paging --------------------------------------------------------------------------

    def _pages(self, query: Any) -> Iterator[list[Any]]:
        """Pages of snapshots, resuming after the last document of the previous page."""
        last = None
        while True:
            page_query = query.limit(self._page)
            if last is not None:
                page_query = page_query.start_after(last)
            page = list(page_query.stream())
            if not page:
                return
            yield page
            if len(page) < self._page:
                return
            last = page[-1]

    def _delete_all(self, snapshots: list[Any]) -> int:
        """Delete each document unless it changed since read; return how many went."""
        deleted = 0
        lock = threading.Lock()

        def on_result(*_: Any) -> None:
            nonlocal deleted
            with lock:
                deleted += 1

        writer = self._db.bulk_writer()
        writer.on_write_result(on_result)
        # A failed precondition (changed or already gone) is final; only transient errors retry.
        writer.on_write_error(_retry_transient_only)
        for snapshot in snapshots:
            writer.delete(
                snapshot.reference,
                option=self._db.write_option(last_update_time=snapshot.update_time),
            )
        writer.close()  # type: ignore[no-untyped-call]
        return deleted

    # ----- retention -----------------------------------------------------------------------

    def delete_finished_before(self, status: JobStatus, cutoff: datetime) -> int:
        """Delete `status` jobs whose completedAt is before `cutoff`. Questions are kept."""
        query = (
            self._db.collection(JOBS)
            .where(filter=FieldFilter("status", "==", status.value))
            .where(filter=FieldFilter("completedAt", "<", cutoff))
            .order_by("completedAt")
        )
        return sum(self._delete_all(page) for page in self._pages(query))

    def delete_expired(self, collection: str, now: datetime) -> int:
        """The TTL policy's work, for documents it has not reached yet."""
        query = (
            self._db.collection(collection)
            .where(filter=FieldFilter("expireAt", "<", now))
            .order_by("expireAt")
        )
        return sum(self._delete_all(page) for page in self._pages(query))

    def delete_expired_limits(self, now: datetime) -> int:
        return self.delete_expired(RATE_WINDOWS, now) + self.delete_expired(IDEMPOTENCY_KEYS, now)

    # ----- recovery ------------------------------------------------------------------------

    # The two recovery queries are written out, field names as literals, so that
    # tests/unit/test_infra.py can find each one and check its composite index exists.
    def expired_leases(self, now: datetime) -> Iterator[StoredJob]:
        query = (
            self._db.collection(JOBS)
            .where(filter=FieldFilter("status", "==", JobStatus.PROCESSING.value))
            .where(filter=FieldFilter("leaseExpiresAt", "<", now))
            .order_by("leaseExpiresAt")
        )
        for page in self._pages(query):
            yield from (StoredJob(s.id, _job_from(s)) for s in page)

    def stale_pending(self, enqueued_before: datetime) -> Iterator[StoredJob]:
        query = (
            self._db.collection(JOBS)
            .where(filter=FieldFilter("status", "==", JobStatus.PENDING.value))
            .where(filter=FieldFilter("enqueuedAt", "<", enqueued_before))
            .order_by("enqueuedAt")
        )
        for page in self._pages(query):
            yield from (StoredJob(s.id, _job_from(s)) for s in page)

    def requeue_lost_worker(self, job_id: str, *, now: datetime, lost: Failure) -> StoredJob | None:
        """A processing job whose lease expired goes back to pending as a new run.

        Returns the job to enqueue, or None when it moved on meanwhile (it finished, was
        cancelled, or a delivery took the lease again).
        """
        ref = self._job_ref(job_id)

        def body(transaction: Any) -> StoredJob | None:
            snapshot = ref.get(transaction=transaction)
            if not snapshot.exists:
                return None
            job = _job_from(snapshot)
            expired = job.lease_expires_at is not None and job.lease_expires_at < now
            if job.status is not JobStatus.PROCESSING or not expired:
                return None
            updates: dict[str, object] = {
                "status": JobStatus.PENDING.value,
                "run": job.run + 1,
                "enqueuedAt": now,
                "lastErrorCode": lost.code.value,
                "errorMessage": lost.message,
                "leaseExpiresAt": firestore.DELETE_FIELD,
                "leaseToken": firestore.DELETE_FIELD,
            }
            self._release_or_take_slot(transaction, job, JobStatus.PENDING, now)
            transaction.update(ref, updates)
            return StoredJob(
                job_id,
                job.model_copy(
                    update={"status": JobStatus.PENDING, "run": job.run + 1, "enqueued_at": now}
                ),
            )

        return self._run(body)

    def fail_lost_worker(self, job_id: str, *, now: datetime, lost: Failure) -> bool:
        """A processing job whose lease expired on its last attempt fails (slot released)."""
        ref = self._job_ref(job_id)

        def body(transaction: Any) -> bool:
            snapshot = ref.get(transaction=transaction)
            if not snapshot.exists:
                return False
            job = _job_from(snapshot)
            expired = job.lease_expires_at is not None and job.lease_expires_at < now
            if job.status is not JobStatus.PROCESSING or not expired:
                return False
            self._release_or_take_slot(transaction, job, JobStatus.FAILED, now)
            transaction.update(
                ref,
                {
                    "status": JobStatus.FAILED.value,
                    "errorCode": lost.code.value,
                    "lastErrorCode": lost.code.value,
                    "errorMessage": lost.message,
                    "retryable": lost.retryable,
                    "completedAt": now,
                    "leaseExpiresAt": firestore.DELETE_FIELD,
                    "leaseToken": firestore.DELETE_FIELD,
                },
            )
            return True

        return self._run(body)

    # ----- counters ------------------------------------------------------------------------

    def repair_counters(self, now: datetime) -> list[CounterRepair]:
        """Make each activeJobCounters/{uid} equal the user's pending + processing jobs."""
        repairs = []
        query = self._db.collection(ACTIVE_COUNTERS).order_by("__name__")
        for page in self._pages(query):
            for snapshot in page:
                repair = self._repair_counter(snapshot.id, now)
                if repair is not None:
                    repairs.append(repair)
        return repairs

    def _repair_counter(self, user_id: str, now: datetime) -> CounterRepair | None:
        counter = self._counter(user_id)
        active_query: Any = (
            self._db.collection(JOBS)
            .where(filter=FieldFilter("userId", "==", user_id))
            .where(filter=FieldFilter("status", "in", [s.value for s in ACTIVE_STATUSES]))
            .count()
        )

        def body(transaction: Any) -> CounterRepair | None:
            snapshot = counter.get(transaction=transaction)
            recorded = int((snapshot.to_dict() or {}).get("activeJobs", 0))
            (result,) = active_query.get(transaction=transaction)
            actual = int(result[0].value)
            if recorded == actual:
                return None
            transaction.set(counter, {"activeJobs": actual, "updatedAt": now}, merge=True)
            return CounterRepair(user_id, recorded, actual)

        try:
            return self._run(body)
        except gexc.NotFound:  # pragma: no cover - deleted between page and repair
            return None
