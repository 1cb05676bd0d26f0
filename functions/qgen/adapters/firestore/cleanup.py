"""The cleanup's sweeps on Firestore: paged, indexed queries and guarded deletes.

Nothing here loads a whole collection. Deletes go through a BulkWriter with a
last-update-time precondition per document, so a document that changed since it was read (a
failed job the learner just retried) or that a concurrent run already deleted is skipped, not
deleted or counted twice.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from google.cloud import firestore

from ...domain.jobs import JobStatus, StoredJob
from .documents import job_from
from .queries import (
    ACTIVE_JOBS,
    DUE_NOTIFICATIONS,
    EXPIRED_IDEMPOTENCY_KEYS,
    EXPIRED_LEASES,
    EXPIRED_RATE_WINDOWS,
    FINISHED_BEFORE,
    NONZERO_COUNTERS,
    STALE_PENDING,
    pages,
)

# gRPC codes of a failed precondition: changed since read, or already gone. Final, not retried.
_NOT_FOUND, _FAILED_PRECONDITION = 5, 9


def _retry_transient_only(failure: Any, _writer: Any) -> bool:
    return bool(failure.attempts < 3 and failure.code not in (_NOT_FOUND, _FAILED_PRECONDITION))


class FirestoreCleanupScans:
    def __init__(self, client: firestore.Client, *, page_size: int = 300) -> None:
        self._db = client
        self._page = page_size

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
        writer.on_write_error(_retry_transient_only)
        for snapshot in snapshots:
            writer.delete(
                snapshot.reference,
                option=self._db.write_option(last_update_time=snapshot.update_time),
            )
        writer.close()  # type: ignore[no-untyped-call]
        return deleted

    def _delete_pages(self, query: Any) -> int:
        return sum(self._delete_all(page) for page in pages(query, self._page))

    def _jobs(self, query: Any) -> Iterator[StoredJob]:
        for page in pages(query, self._page):
            yield from (StoredJob(s.id, job_from(s)) for s in page)

    def delete_finished_before(self, status: JobStatus, cutoff: datetime) -> int:
        """Delete `status` jobs whose completedAt is before `cutoff`. Questions are kept."""
        return self._delete_pages(FINISHED_BEFORE.build(self._db, status.value, bound=cutoff))

    def delete_expired_limits(self, now: datetime) -> int:
        """The TTL policy's work, for documents it has not reached yet."""
        return sum(
            self._delete_pages(spec.build(self._db, bound=now))
            for spec in (EXPIRED_RATE_WINDOWS, EXPIRED_IDEMPOTENCY_KEYS)
        )

    def expired_leases(self, now: datetime) -> Iterator[StoredJob]:
        return self._jobs(EXPIRED_LEASES.build(self._db, bound=now))

    def stale_pending(self, enqueued_before: datetime) -> Iterator[StoredJob]:
        return self._jobs(STALE_PENDING.build(self._db, bound=enqueued_before))

    def due_notifications(self, now: datetime) -> Iterator[str]:
        for page in pages(DUE_NOTIFICATIONS.build(self._db, bound=now), self._page):
            yield from (snapshot.id for snapshot in page)

    def users_to_recount(self) -> Iterator[str]:
        seen: set[str] = set()
        for page in pages(NONZERO_COUNTERS.build(self._db, bound=0), self._page):
            for snapshot in page:
                seen.add(snapshot.id)
                yield snapshot.id
        for page in pages(ACTIVE_JOBS.build(self._db), self._page):
            for snapshot in page:
                user_id = str((snapshot.to_dict() or {}).get("userId", ""))
                if user_id and user_id not in seen:
                    seen.add(user_id)
                    yield user_id
