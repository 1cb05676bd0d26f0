"""Reads outside a transaction: a job, a learner's jobs, a job's saved question texts."""

from __future__ import annotations

from google.cloud import firestore

from ...domain.budgets import LearnerBudget
from ...domain.jobs import StoredJob
from ...domain.limits import RateWindow
from .documents import (
    ACTIVE_JOBS,
    RESERVED,
    SPENT,
    WINDOW_COUNT,
    budget_id,
    counter_value,
    job_from,
)
from .names import ACTIVE_COUNTERS, JOBS, RATE_WINDOWS, TOKEN_BUDGETS
from .queries import JOBS_OF_USER, QUESTIONS_OF_JOB, SHARDS_OF_WINDOW, SPEND_OF_DAY


class FirestoreJobReader:
    def __init__(self, client: firestore.Client) -> None:
        self._db = client

    def get_job(self, job_id: str) -> StoredJob | None:
        snapshot = self._db.collection(JOBS).document(job_id).get()
        return StoredJob(job_id, job_from(snapshot)) if snapshot.exists else None

    def list_jobs(self, user_id: str, limit: int) -> list[StoredJob]:
        query = JOBS_OF_USER.build(self._db, user_id).limit(limit)
        return [StoredJob(s.id, job_from(s)) for s in query.stream()]

    def window_count(self, window: RateWindow) -> int:
        if window.shards == 1:
            snapshot = self._db.collection(RATE_WINDOWS).document(window.document_id).get()
            return counter_value(snapshot, WINDOW_COUNT)
        query = SHARDS_OF_WINDOW.build(self._db, window.document_id)
        ((result,),) = query.sum(WINDOW_COUNT).get()
        return int(result.value or 0)

    def active_jobs(self, user_id: str) -> int:
        snapshot = self._db.collection(ACTIVE_COUNTERS).document(user_id).get()
        return counter_value(snapshot, ACTIVE_JOBS)

    def budget(self, user_id: str, day: str) -> LearnerBudget:
        snapshot = self._db.collection(TOKEN_BUDGETS).document(budget_id(user_id, day)).get()
        return LearnerBudget(counter_value(snapshot, RESERVED), counter_value(snapshot, SPENT))

    def project_spend(self, day: str) -> int:
        ((result,),) = SPEND_OF_DAY.build(self._db, day).sum(SPENT).get()
        return int(result.value or 0)

    def saved_questions(self, job_id: str) -> list[tuple[str, str]]:
        query = QUESTIONS_OF_JOB.build(self._db, job_id)
        return [(s.id, str((s.to_dict() or {}).get("question", ""))) for s in query.stream()]
