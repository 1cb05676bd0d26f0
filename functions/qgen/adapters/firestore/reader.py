"""Reads outside a transaction: a job, a learner's jobs, a job's saved question texts."""

from __future__ import annotations

from google.cloud import firestore

from ...domain.jobs import StoredJob
from ...domain.limits import RateWindow
from .documents import WINDOW_COUNT, counter_value, job_from
from .names import JOBS, RATE_WINDOWS
from .queries import JOBS_OF_USER, QUESTIONS_OF_JOB


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
        refs = [self._db.collection(RATE_WINDOWS).document(i) for i in window.shard_ids()]
        return sum(counter_value(s, WINDOW_COUNT) for s in self._db.get_all(refs))

    def saved_questions(self, job_id: str) -> list[tuple[str, str]]:
        query = QUESTIONS_OF_JOB.build(self._db, job_id)
        return [(s.id, str((s.to_dict() or {}).get("question", ""))) for s in query.stream()]
