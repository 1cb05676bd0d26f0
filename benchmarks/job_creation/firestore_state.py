"""This run's documents, read back from Firestore directly (admin client) after the load."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from qgen.adapters.firestore.names import ACTIVE_COUNTERS, JOBS, RATE_WINDOWS
from qgen.domain.limits import RateScope, address_key, window_for

from benchmarks.job_creation.model import ACTIVE_STATUSES, SimUser


def window_digest(scope: RateScope, key: str) -> str:
    # RateWindow.document_id is "<digest of key>-<scope>-<window start>" (plus "-sNN" for a
    # shard of a coarse window); only the digest is independent of when the request was made.
    if scope is RateScope.IP:
        key = address_key(key)
    window = window_for(scope, key, limit=1, window_seconds=3600, now=datetime.now(UTC))
    return window.document_id.split("-", 1)[0]


def read_windows(db: Any) -> dict[str, int]:
    """Every rate-limit window document id with its count."""
    return {
        snap.id: int((snap.to_dict() or {}).get("count", 0))
        for snap in db.collection(RATE_WINDOWS).stream()
    }


def windows_for_key(windows: dict[str, int], scope: RateScope, key: str) -> dict[str, int]:
    """The key's windows with their counts, a coarse window's shards added up."""
    prefix = f"{window_digest(scope, key)}-{scope}-"
    totals: dict[str, int] = {}
    for doc_id, count in windows.items():
        if doc_id.startswith(prefix):
            window = re.sub(r"-s\d\d$", "", doc_id)
            totals[window] = totals.get(window, 0) + count
    return totals


@dataclass(frozen=True)
class Stored:
    # uid -> job id -> status, for this run's users only.
    jobs: dict[str, dict[str, str]]
    # uid -> activeJobCounters/{uid}.activeJobs (0 where there is no counter).
    counters: dict[str, int]
    windows_before: dict[str, int]
    windows_after: dict[str, int]

    def active_ids(self, uid: str) -> set[str]:
        docs = self.jobs.get(uid, {})
        return {job_id for job_id, status in docs.items() if status in ACTIVE_STATUSES}

    def max_active(self) -> int:
        return max((len(self.active_ids(uid)) for uid in self.jobs), default=0)

    def window_growth(self, scope: RateScope, key: str) -> tuple[int, list[int]]:
        """How much the key's windows grew during the load, and their counts now."""
        before = windows_for_key(self.windows_before, scope, key)
        after = windows_for_key(self.windows_after, scope, key)
        return sum(after.values()) - sum(before.values()), list(after.values())


def read_stored(
    db: Any, users: list[SimUser], run_prefix: str, windows_before: dict[str, int]
) -> Stored:
    from google.cloud import firestore

    jobs: dict[str, dict[str, str]] = defaultdict(dict)
    # All of this run's jobs in one range query on the single-field index of userId.
    query = (
        db.collection(JOBS)
        .where(filter=firestore.FieldFilter("userId", ">=", run_prefix))
        .where(filter=firestore.FieldFilter("userId", "<", run_prefix + "\uffff"))
    )
    counter_refs = [db.collection(ACTIVE_COUNTERS).document(u.uid) for u in users]
    # Jobs and counters in one read-only transaction: one consistent snapshot, so a worker
    # finishing a job between the two reads cannot make them disagree.
    transaction = db.transaction(read_only=True)

    @firestore.transactional
    def read(tx: Any) -> dict[str, int]:
        jobs.clear()
        for snap in query.stream(transaction=tx):
            data = snap.to_dict() or {}
            jobs[str(data.get("userId"))][snap.id] = str(data.get("status"))
        return {
            snap.id: int((snap.to_dict() or {}).get("activeJobs", 0)) if snap.exists else 0
            for snap in db.get_all(counter_refs, transaction=tx)
        }

    counters = read(transaction)
    return Stored(dict(jobs), counters, windows_before, read_windows(db))
