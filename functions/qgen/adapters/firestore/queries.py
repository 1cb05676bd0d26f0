"""The queries the service runs, declared as data.

The store builds each Firestore query from its spec, and tests/unit/test_infra.py reads the
same specs to check that firestore.indexes.json has the composite index each one needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from google.cloud import firestore
from google.cloud.firestore import FieldFilter

from ...domain.jobs import ACTIVE_STATUSES, JobStatus
from .names import (
    ACTIVE_COUNTERS,
    IDEMPOTENCY_KEYS,
    JOBS,
    NOTIFICATION_OUTBOX,
    QUESTIONS,
    RATE_WINDOWS,
    TOKEN_BUDGETS,
)


@dataclass(frozen=True)
class QuerySpec:
    """Equality filters (a value of None is given at run time), then the field that orders
    the results, compared (``compare``) with a run-time bound unless ``compare`` is None."""

    collection: str
    equals: tuple[tuple[str, object], ...]
    order_by: str | None
    compare: str | None = "<"
    descending: bool = False

    def build(self, db: Any, *values: object, bound: object = None) -> Any:
        """The query, with run-time equality ``values`` filling the None slots in order."""
        given = iter(values)
        query = db.collection(self.collection)
        for field, value in self.equals:
            resolved = next(given) if value is None else value
            if isinstance(resolved, tuple):
                query = query.where(filter=FieldFilter(field, "in", list(resolved)))
            else:
                query = query.where(filter=FieldFilter(field, "==", resolved))
        if self.order_by is None:
            return query
        if self.compare is not None:
            query = query.where(filter=FieldFilter(self.order_by, self.compare, bound))
        direction = firestore.Query.DESCENDING if self.descending else firestore.Query.ASCENDING
        return query.order_by(self.order_by, direction=direction)


_ACTIVE = tuple(sorted(s.value for s in ACTIVE_STATUSES))  # an `in` filter

# A learner's recent jobs (GET /jobs and the clients' listeners).
JOBS_OF_USER = QuerySpec(JOBS, (("userId", None),), "createdAt", compare=None, descending=True)
# Retention: jobs of one status that ended before a cutoff.
FINISHED_BEFORE = QuerySpec(JOBS, (("status", None),), "completedAt")
# Recovery: workers that stopped renewing their lease, and pending jobs whose task was lost.
EXPIRED_LEASES = QuerySpec(JOBS, (("status", JobStatus.PROCESSING.value),), "leaseExpiresAt")
STALE_PENDING = QuerySpec(JOBS, (("status", JobStatus.PENDING.value),), "enqueuedAt")
# Counter repair: a learner's active jobs (counted inside a transaction).
ACTIVE_JOBS_OF_USER = QuerySpec(JOBS, (("userId", None), ("status", _ACTIVE)), None, None)
# A coarse rate window's shards (summed in one aggregation: one read, not one per shard).
SHARDS_OF_WINDOW = QuerySpec(RATE_WINDOWS, (("window", None),), None, None)
# Counter repair visits only learners whose counter could be wrong (work grows with what is
# going on, not with every learner ever seen): non-zero counters, and the active jobs' owners.
NONZERO_COUNTERS = QuerySpec(ACTIVE_COUNTERS, (), "activeJobs", compare="!=")
ACTIVE_JOBS = QuerySpec(JOBS, (("status", _ACTIVE),), "__name__", compare=None)
# A job's saved questions (resume and completion count these documents, not the job's copy).
QUESTIONS_OF_JOB = QuerySpec(QUESTIONS, (("generationJobId", None),), "__name__", compare=None)
# The project's spend today: a sum over the learners' budget documents of the day (an
# aggregation: one read per thousand documents, and no document every job's end must write).
SPEND_OF_DAY = QuerySpec(TOKEN_BUDGETS, (("day", None),), None, None)
# Notifications the sweep sends: left by a worker that died, or rescheduled after a failure.
DUE_NOTIFICATIONS = QuerySpec(NOTIFICATION_OUTBOX, (), "dueAt", compare="<=")
# What Firestore's TTL policy deletes within a day, swept sooner.
EXPIRED_RATE_WINDOWS = QuerySpec(RATE_WINDOWS, (), "expireAt")
EXPIRED_IDEMPOTENCY_KEYS = QuerySpec(IDEMPOTENCY_KEYS, (), "expireAt")

ALL_QUERIES = {
    "JOBS_OF_USER": JOBS_OF_USER,
    "FINISHED_BEFORE": FINISHED_BEFORE,
    "EXPIRED_LEASES": EXPIRED_LEASES,
    "STALE_PENDING": STALE_PENDING,
    "ACTIVE_JOBS_OF_USER": ACTIVE_JOBS_OF_USER,
    "NONZERO_COUNTERS": NONZERO_COUNTERS,
    "ACTIVE_JOBS": ACTIVE_JOBS,
    "QUESTIONS_OF_JOB": QUESTIONS_OF_JOB,
    "SPEND_OF_DAY": SPEND_OF_DAY,
    "SHARDS_OF_WINDOW": SHARDS_OF_WINDOW,
    "DUE_NOTIFICATIONS": DUE_NOTIFICATIONS,
    "EXPIRED_RATE_WINDOWS": EXPIRED_RATE_WINDOWS,
    "EXPIRED_IDEMPOTENCY_KEYS": EXPIRED_IDEMPOTENCY_KEYS,
}


def pages(query: Any, page_size: int) -> Iterator[list[Any]]:
    """Pages of snapshots, each resuming after the last document of the previous page."""
    last = None
    while True:
        page_query = query.limit(page_size)
        if last is not None:
            page_query = page_query.start_after(last)
        page = list(page_query.stream())
        if not page:
            return
        yield page
        if len(page) < page_size:
            return
        last = page[-1]
