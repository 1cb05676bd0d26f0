"""One face over the two storage backends, for tests that must hold on both (tests/contract).

`memory` is the in-memory fake of the ports; `firestore` is the real adapters on the
emulator. Tests drive the services through the ports and look at the results through the
few inspection methods here, so one test body checks both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from google.cloud.firestore import FieldFilter
from qgen.adapters.firestore.cleanup import FirestoreCleanupScans
from qgen.adapters.firestore.names import ACTIVE_COUNTERS, JOBS, QUESTIONS, RATE_WINDOWS
from qgen.adapters.firestore.reader import FirestoreJobReader
from qgen.adapters.firestore.unit_of_work import FirestoreUnitOfWork
from qgen.domain.jobs import Job
from qgen.services.ports import CleanupScans, JobReader, UnitOfWork

from tests.support.fakes import MemoryStore


def window_totals(documents: Iterable[tuple[str, int]]) -> list[int]:
    """Each rate window's count, its shards (`…-sNN` documents) added up; sorted."""
    totals: dict[str, int] = {}
    for document_id, count in documents:
        window = re.sub(r"-s\d\d$", "", document_id)
        totals[window] = totals.get(window, 0) + count
    return sorted(totals.values())


class Backend(Protocol):
    name: str
    uow: UnitOfWork
    reader: JobReader
    scans: CleanupScans

    def job(self, job_id: str) -> Job: ...

    def jobs_of(self, user_id: str) -> list[Job]: ...

    def active_counter(self, user_id: str) -> int: ...

    def window_counts(self) -> list[int]: ...

    def question_count(self, job_id: str) -> int: ...

    def put_job(self, job_id: str, job: Job) -> None:
        """Overwrite a job as something outside the services would (no counter change)."""
        ...


class MemoryBackend:
    name = "memory"

    def __init__(self) -> None:
        self.store = MemoryStore()
        self.uow: UnitOfWork = self.store
        self.reader: JobReader = self.store
        self.scans: CleanupScans = self.store

    def job(self, job_id: str) -> Job:
        return self.store.state.jobs[job_id]

    def jobs_of(self, user_id: str) -> list[Job]:
        return [j for j in self.store.state.jobs.values() if j.user_id == user_id]

    def active_counter(self, user_id: str) -> int:
        return self.store.state.counters.get(user_id, 0)

    def window_counts(self) -> list[int]:
        return window_totals(self.store.state.windows.items())

    def question_count(self, job_id: str) -> int:
        return sum(1 for q in self.store.state.questions.values() if q.generation_job_id == job_id)

    def put_job(self, job_id: str, job: Job) -> None:
        self.store.state.jobs[job_id] = job


@dataclass
class FirestoreBackend:
    db: Any
    name = "firestore"

    def __post_init__(self) -> None:
        self.uow: UnitOfWork = FirestoreUnitOfWork(self.db)
        self.reader: JobReader = FirestoreJobReader(self.db)
        self.scans: CleanupScans = FirestoreCleanupScans(self.db, page_size=7)

    def job(self, job_id: str) -> Job:
        return Job.model_validate(self.db.collection(JOBS).document(job_id).get().to_dict())

    def jobs_of(self, user_id: str) -> list[Job]:
        query = self.db.collection(JOBS).where(filter=FieldFilter("userId", "==", user_id))
        return [Job.model_validate(s.to_dict()) for s in query.stream()]

    def active_counter(self, user_id: str) -> int:
        snap = self.db.collection(ACTIVE_COUNTERS).document(user_id).get()
        return int(snap.to_dict()["activeJobs"]) if snap.exists else 0

    def window_counts(self) -> list[int]:
        documents = self.db.collection(RATE_WINDOWS).stream()
        return window_totals((s.id, int(s.to_dict()["count"])) for s in documents)

    def question_count(self, job_id: str) -> int:
        query = self.db.collection(QUESTIONS).where(
            filter=FieldFilter("generationJobId", "==", job_id)
        )
        return len(list(query.stream()))

    def put_job(self, job_id: str, job: Job) -> None:
        document = job.model_dump(by_alias=True, exclude_none=True)
        self.db.collection(JOBS).document(job_id).set(document)
