"""JobTransaction on one Firestore transaction: the reads and writes of a unit of work."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from google.cloud import firestore

from ...domain.budgets import BudgetDelta, LearnerBudget, budget_delta
from ...domain.devices import Devices
from ...domain.jobs import Job, QuestionBounds, counter_delta, question_id
from ...domain.limits import AdmissionState, IdempotencyClaim, IdempotencyRecord, RateWindow
from ...domain.notifications import Notification, notification_for
from ...domain.questions import SavedQuestion
from .documents import (
    ACTIVE_JOBS,
    RESERVED,
    SPENT,
    WINDOW_COUNT,
    budget_expiry,
    budget_id,
    changes,
    counter_value,
    document,
    job_from,
)
from .lazy_transaction import LazyTransaction
from .names import (
    ACTIVE_COUNTERS,
    IDEMPOTENCY_KEYS,
    JOBS,
    LEARNER_DEVICES,
    NOTIFICATION_OUTBOX,
    QUESTIONS,
    RATE_WINDOWS,
    TOKEN_BUDGETS,
)
from .queries import ACTIVE_JOBS_OF_USER

T = TypeVar("T")


class FirestoreTransaction:
    """JobTransaction on one google.cloud.firestore transaction."""

    def __init__(self, db: firestore.Client, transaction: LazyTransaction) -> None:
        self._db = db
        self._tx = transaction

    def _ref(self, collection: str, document_id: str) -> Any:
        return self._db.collection(collection).document(document_id)

    def _get(self, collection: str, document_id: str) -> Any:
        (snapshot,) = self._tx.read([self._ref(collection, document_id)])
        return snapshot

    # ----- reads ---------------------------------------------------------------------------

    def get_job(self, job_id: str) -> Job | None:
        return self.get_jobs([job_id])[job_id]

    def get_jobs(self, job_ids: Sequence[str]) -> dict[str, Job | None]:
        unique = list(dict.fromkeys(job_ids))
        snapshots = self._tx.read([self._ref(JOBS, job_id) for job_id in unique])
        found = {s.id: job_from(s) for s in snapshots if s.exists}
        return {job_id: found.get(job_id) for job_id in unique}

    def read_quota(self, user_id: str, windows: list[RateWindow], day: str) -> AdmissionState:
        """The counter, the exact windows, the day's budget and the devices: one read."""
        counter = self._ref(ACTIVE_COUNTERS, user_id)
        budget = self._ref(TOKEN_BUDGETS, budget_id(user_id, day))
        devices = self._ref(LEARNER_DEVICES, user_id)
        window_refs = [self._ref(RATE_WINDOWS, w.document_id) for w in windows]
        snapshots = {
            s.reference.path: s for s in self._tx.read([counter, budget, devices, *window_refs])
        }
        spent = snapshots[budget.path]
        return AdmissionState(
            active_jobs=counter_value(snapshots[counter.path], ACTIVE_JOBS),
            window_counts={
                w: counter_value(snapshots[ref.path], WINDOW_COUNT)
                for w, ref in zip(windows, window_refs, strict=True)
            },
            budget=LearnerBudget(counter_value(spent, RESERVED), counter_value(spent, SPENT)),
            reachable=_devices_from(snapshots[devices.path]).reachable,
        )

    def read_idempotency(self, claim: IdempotencyClaim) -> IdempotencyRecord | None:
        snapshot = self._get(IDEMPOTENCY_KEYS, claim.document_id)
        if not snapshot.exists:
            return None
        record = snapshot.to_dict() or {}
        expire_at = record.get("expireAt")
        return IdempotencyRecord(
            job_id=str(record["jobId"]),
            fingerprint=str(record.get("fingerprint", "")),
            expires_at=expire_at if isinstance(expire_at, datetime) else None,
        )

    def read_devices(self, user_id: str) -> Devices:
        return _devices_from(self._get(LEARNER_DEVICES, user_id))

    def save_devices(self, user_id: str, devices: Devices) -> None:
        self._tx.set(self._ref(LEARNER_DEVICES, user_id), document(devices))

    def read_notification(self, notification_id: str) -> Notification | None:
        snapshot = self._get(NOTIFICATION_OUTBOX, notification_id)
        return Notification.model_validate(snapshot.to_dict()) if snapshot.exists else None

    def save_notification(self, notification_id: str, notification: Notification) -> None:
        self._tx.set(self._ref(NOTIFICATION_OUTBOX, notification_id), document(notification))

    def delete_notification(self, notification_id: str) -> None:
        self._tx.delete(self._ref(NOTIFICATION_OUTBOX, notification_id))

    def read_active_counter(self, user_id: str) -> int:
        snapshot = self._get(ACTIVE_COUNTERS, user_id)
        return counter_value(snapshot, ACTIVE_JOBS)

    def count_active_jobs(self, user_id: str) -> int:
        self._tx.begin()
        (result,) = ACTIVE_JOBS_OF_USER.build(self._db, user_id).count().get(transaction=self._tx)
        return int(result[0].value)

    def saved_question_ids(self, job_id: str, bounds: QuestionBounds) -> list[str]:
        known, upto = bounds
        if not upto:  # an exact count of none: nothing to read
            return []
        start = min(max(known - 1, 0), upto)
        found = self._existing_positions(job_id, range(start, max(upto, start + 1)))
        if known and start not in found:  # the count the caller had is not there: read all
            found = self._existing_positions(job_id, range(upto))
            start = 0
        count = max(found) + 1 if found else start
        return [question_id(job_id, p) for p in range(count)]

    def _existing_positions(self, job_id: str, positions: range) -> set[int]:
        refs = [self._ref(QUESTIONS, question_id(job_id, p)) for p in positions]
        position_of = {ref.path: p for ref, p in zip(refs, positions, strict=True)}
        return {position_of[s.reference.path] for s in self._tx.read(refs) if s.exists}

    # ----- writes --------------------------------------------------------------------------

    def add_job(self, job_id: str, job: Job) -> None:
        self._tx.create(self._ref(JOBS, job_id), document(job))
        self._move_counter(job.user_id, counter_delta(None, job.status))
        self._move_budget(job.user_id, budget_delta(None, job))

    def save_job(self, job_id: str, before: Job, after: Job) -> None:
        update = changes(before, after)
        if update:
            self._tx.update(self._ref(JOBS, job_id), update)
        self._move_counter(after.user_id, counter_delta(before.status, after.status))
        self._move_budget(after.user_id, budget_delta(before, after))
        owed = notification_for(job_id, before, after)
        if owed is not None:
            self.save_notification(*owed)

    def _move_budget(self, user_id: str, delta: BudgetDelta | None) -> None:
        """Blind increments of the learner's day (read in this transaction when it decides
        anything); the project's day is the sum of these documents."""
        if delta is None:
            return
        expire_at = budget_expiry(delta.day)
        self._tx.set(
            self._ref(TOKEN_BUDGETS, budget_id(user_id, delta.day)),
            {
                RESERVED: firestore.Increment(delta.reserved),
                SPENT: firestore.Increment(delta.spent),
                "userId": user_id,
                "day": delta.day,
                "expireAt": expire_at,
            },
            merge=True,
        )

    def _move_counter(self, user_id: str, delta: int) -> None:
        if delta:
            self._tx.set(
                self._ref(ACTIVE_COUNTERS, user_id),
                {ACTIVE_JOBS: firestore.Increment(delta), "updatedAt": firestore.SERVER_TIMESTAMP},
                merge=True,
            )

    def consume_quota(self, state: AdmissionState) -> None:
        for window, count in state.window_counts.items():
            # A sharded window is only written (a blind increment of one shard, which takes no
            # read lock), so admissions behind one address do not contend; an exact window
            # was read in this transaction and is written from what was read.
            shard = random.randrange(window.shards)  # noqa: S311 - spreading, not secrecy
            self._tx.set(
                self._ref(RATE_WINDOWS, window.shard_ids()[shard]),
                {
                    "scope": str(window.scope),
                    # The window a shard counts for: its shards are summed by this field.
                    "window": window.document_id,
                    "windowStart": window.start,
                    WINDOW_COUNT: count + 1 if window.shards == 1 else firestore.Increment(1),
                    # Firestore's TTL policy deletes the window once it can matter no more.
                    "expireAt": window.end,
                },
                merge=window.shards > 1,
            )

    def record_idempotency(
        self, claim: IdempotencyClaim, *, job_id: str, user_id: str, now: datetime
    ) -> None:
        self._tx.set(
            self._ref(IDEMPOTENCY_KEYS, claim.document_id),
            {
                "userId": user_id,
                "jobId": job_id,
                "fingerprint": claim.fingerprint,
                "createdAt": now,
                "expireAt": claim.expires_at,
            },
        )

    def put_question(self, question_id: str, question: SavedQuestion) -> None:
        # A new card's unset state (stability, difficulty, lastReview) is stored as null:
        # review clients read the fields fsrs needs, present or not.
        self._tx.set(self._ref(QUESTIONS, question_id), question.model_dump(by_alias=True))

    def set_active_counter(self, user_id: str, value: int) -> None:
        self._tx.set(
            self._ref(ACTIVE_COUNTERS, user_id),
            {ACTIVE_JOBS: value, "updatedAt": firestore.SERVER_TIMESTAMP},
            merge=True,
        )


def _devices_from(snapshot: Any) -> Devices:
    return Devices.model_validate(snapshot.to_dict() or {}) if snapshot.exists else Devices()
