"""What the Firestore adapters write, field by field: the data contract clients depend on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from qgen.adapters.firestore.documents import document
from qgen.adapters.firestore.names import (
    ACTIVE_COUNTERS,
    IDEMPOTENCY_KEYS,
    JOBS,
    QUESTIONS,
    RATE_WINDOWS,
)
from qgen.adapters.firestore.unit_of_work import FirestoreUnitOfWork
from qgen.config import Settings
from qgen.domain import transitions
from qgen.domain.jobs import Job, QuestionBounds, question_id
from qgen.services.jobs import CreateRequest, JobService
from qgen.services.ports import JobTransaction

from tests.support.backends import FirestoreBackend
from tests.support.fakes import FakeClock, InMemoryTaskQueue

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 28, 10, 30, tzinfo=UTC)


def created(db: Any, **request: Any) -> str:
    backend = FirestoreBackend(db)
    service = JobService(
        uow=backend.uow,
        reader=backend.reader,
        queue=InMemoryTaskQueue(),
        settings=Settings(project_id="demo-qgen-test"),
        clock=FakeClock(NOW),
    )
    ask = CreateRequest(user_id="alice", prompt="NATO alphabet", client_ip="203.0.113.7")
    return service.create(ask.__class__(**{**ask.__dict__, **request})).stored.job_id


def test_a_new_job_its_counter_windows_and_idempotency_record(db: Any) -> None:
    job_id = created(db, idempotency_key="key-1")
    doc = db.collection(JOBS).document(job_id).get().to_dict()
    expected = transitions.admit(
        user_id="alice",
        prompt="NATO alphabet",
        now=NOW,
        ip_address="203.0.113.7",
        reservation=Settings().job_token_reservation,
    )
    # Exactly the domain job's document (its literal form: tests/unit/test_jobs_state_machine).
    assert doc == document(expected), "absent optional fields are omitted, never null"
    counter = db.collection(ACTIVE_COUNTERS).document("alice").get().to_dict()
    assert counter["activeJobs"] == 1
    assert isinstance(counter["updatedAt"], datetime)
    windows = [s.to_dict() for s in db.collection(RATE_WINDOWS).stream()]
    assert sorted(w["scope"] for w in windows) == ["ip", "user"]
    assert all(w["count"] == 1 for w in windows)
    assert all(w["expireAt"] == datetime(2026, 11, 28, 11, 0, tzinfo=UTC) for w in windows)
    record = next(iter(db.collection(IDEMPOTENCY_KEYS).stream())).to_dict()
    assert record["jobId"] == job_id
    assert record["userId"] == "alice"
    assert record["expireAt"] - record["createdAt"] == timedelta(hours=24)


def test_saving_a_job_writes_what_changed_and_deletes_what_it_no_longer_has(db: Any) -> None:
    job_id = created(db)
    uow = FirestoreUnitOfWork(db)

    def claim(tx: JobTransaction) -> Job:
        job = tx.get_job(job_id)
        decision = transitions.claim(job_id, job, now=NOW, lease_seconds=60, token="t")
        assert job is not None
        assert decision.job is not None
        tx.save_job(job_id, job, decision.job)
        return decision.job

    claimed = uow.run(claim)
    doc = db.collection(JOBS).document(job_id).get().to_dict()
    assert doc["leaseToken"] == "t"
    assert doc["status"] == "processing"

    def cancel(tx: JobTransaction) -> None:
        job = tx.get_job(job_id)
        assert job == claimed
        tx.save_job(job_id, job, job.changed(lease_token=None, lease_expires_at=None))

    uow.run(cancel)
    doc = db.collection(JOBS).document(job_id).get().to_dict()
    assert "leaseToken" not in doc
    assert "leaseExpiresAt" not in doc
    assert doc["status"] == "processing"


@pytest.mark.parametrize(
    ("known", "expected"),
    [
        (0, 5),  # nothing known: every position below the cap is read
        (3, 5),  # the job's copy lags: read from its last known question on
        (5, 5),  # up to date: one document read
        (7, 5),  # a count ahead of the documents (never written so): all of them are read
    ],
)
def test_a_jobs_saved_questions_are_counted_from_its_documents(
    db: Any, known: int, expected: int
) -> None:
    for position in range(expected):
        db.collection(QUESTIONS).document(question_id("j1", position)).set(
            {"generationJobId": "j1"}
        )
    db.collection(QUESTIONS).document(question_id("j2", 0)).set({"generationJobId": "j2"})
    ids = FirestoreUnitOfWork(db).run(
        lambda tx: tx.saved_question_ids("j1", QuestionBounds(known=known, upto=10))
    )
    assert ids == [question_id("j1", p) for p in range(expected)]


@pytest.mark.parametrize(("known", "expected"), [(5, 5), (0, 0)])
def test_an_exact_count_is_confirmed_by_its_last_document_alone(
    db: Any, known: int, expected: int
) -> None:
    """Bounds that end at the count (a clean attempt's own account): the last position is
    read to confirm it, and a count of none reads nothing."""
    for position in range(expected):
        db.collection(QUESTIONS).document(question_id("j1", position)).set({"n": position})
    ids = FirestoreUnitOfWork(db).run(
        lambda tx: tx.saved_question_ids("j1", QuestionBounds(known=known, upto=known))
    )
    assert ids == [question_id("j1", p) for p in range(expected)]
