"""The scheduled cleanup against the Firestore emulator (the queue is the in-memory fake)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from qgen.adapters.firestore.cleanup import FirestoreCleanupScans
from qgen.adapters.firestore.names import (
    ACTIVE_COUNTERS,
    IDEMPOTENCY_KEYS,
    JOBS,
    QUESTIONS,
    RATE_WINDOWS,
)
from qgen.adapters.firestore.unit_of_work import FirestoreUnitOfWork
from qgen.config import Settings
from qgen.services.cleanup import CleanupMode, CleanupService

from tests.conftest import PROJECT_ID
from tests.support.fakes import InMemoryTaskQueue

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def service(
    db: Any,
    queue: InMemoryTaskQueue,
    *,
    page_size: int = 300,
    scans: FirestoreCleanupScans | None = None,
) -> CleanupService:
    settings = Settings(project_id=PROJECT_ID, max_attempts=3, cleanup_page_size=page_size)
    return CleanupService(
        scans=scans or FirestoreCleanupScans(db, page_size=page_size),
        uow=FirestoreUnitOfWork(db),
        queue=queue,
        settings=settings,
        clock=lambda: NOW,
    )


def seed_job(db: Any, job_id: str, status: str, *, user: str = "alice", **fields: Any) -> None:
    doc = {
        "userId": user,
        "prompt": "NATO alphabet",
        "status": status,
        "createdAt": NOW - 40 * DAY,
        "enqueuedAt": NOW - 40 * DAY,
        "questionsSaved": 0,
        "questionsGenerated": 0,
        "questionsRejected": 0,
        "questionIds": [],
        "attempts": 1,
        "run": 0,
        **fields,
    }
    db.collection(JOBS).document(job_id).set(doc)


def set_counter(db: Any, user: str, value: int) -> None:
    db.collection(ACTIVE_COUNTERS).document(user).set({"activeJobs": value})


def counter(db: Any, user: str) -> int:
    return int(db.collection(ACTIVE_COUNTERS).document(user).get().to_dict()["activeJobs"])


def job_ids(db: Any) -> set[str]:
    return {s.id for s in db.collection(JOBS).stream()}


def seed_retention_fixture(db: Any) -> dict[str, bool]:
    """Jobs of every status and age; the value says whether retention must delete it."""
    cases = {
        "completed-old": ("completed", NOW - 7 * DAY - timedelta(seconds=1), True),
        "completed-boundary": ("completed", NOW - 7 * DAY, False),
        "completed-recent": ("completed", NOW - 6 * DAY, False),
        "failed-old": ("failed", NOW - 30 * DAY - timedelta(seconds=1), True),
        "failed-boundary": ("failed", NOW - 30 * DAY, False),
        "failed-20d": ("failed", NOW - 20 * DAY, False),
        "cancelled-old": ("cancelled", NOW - 8 * DAY, True),
        "cancelled-boundary": ("cancelled", NOW - 7 * DAY, False),
    }
    for job_id, (status, completed_at, _) in cases.items():
        seed_job(db, job_id, status, completedAt=completed_at, questionIds=[f"{job_id}-q000"])
        db.collection(QUESTIONS).document(f"{job_id}-q000").set(
            {"userId": "alice", "generationJobId": job_id, "question": "Q?"}
        )
    # Active jobs are never retention's business, however old.
    seed_job(db, "pending-ancient", "pending")
    seed_job(db, "processing-ancient", "processing", leaseExpiresAt=NOW + DAY)
    return {job_id: deleted for job_id, (_, _, deleted) in cases.items()}


# ----- retention ---------------------------------------------------------------------------


def test_retention_deletes_exactly_the_expired_finished_jobs_and_keeps_questions(db: Any) -> None:
    expected = seed_retention_fixture(db)
    report = service(db, InMemoryTaskQueue()).retention()
    assert (report.deleted_completed, report.deleted_failed, report.deleted_cancelled) == (1, 1, 1)
    assert report.total == 3
    kept = {j for j, deleted in expected.items() if not deleted}
    assert job_ids(db) == kept | {"pending-ancient", "processing-ancient"}
    assert len(list(db.collection(QUESTIONS).stream())) == len(expected), "questions are kept"


def test_retention_pages_through_many_jobs(db: Any) -> None:
    batch = db.batch()
    for n in range(23):
        batch.set(
            db.collection(JOBS).document(f"old-{n:02d}"),
            {"userId": "u", "status": "completed", "completedAt": NOW - 9 * DAY},
        )
    batch.commit()
    assert service(db, InMemoryTaskQueue(), page_size=5).retention().deleted_completed == 23
    assert job_ids(db) == set()


def test_two_concurrent_runs_delete_each_job_once(db: Any) -> None:
    expected = seed_retention_fixture(db)
    queue = InMemoryTaskQueue()
    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(lambda _: service(db, queue, page_size=2).retention(), range(2)))
    assert sum(r.total for r in reports) == sum(expected.values())
    assert job_ids(db) == {j for j, d in expected.items() if not d} | {
        "pending-ancient",
        "processing-ancient",
    }


def test_a_run_killed_half_way_is_finished_by_the_next_run(db: Any) -> None:
    expected = seed_retention_fixture(db)

    class KilledError(Exception):
        pass

    class DiesAfterOnePage(FirestoreCleanupScans):
        pages = 0

        def _delete_all(self, snapshots: list[Any]) -> int:
            if self.pages == 1:
                raise KilledError
            self.pages += 1
            return super()._delete_all(snapshots)

    dying = DiesAfterOnePage(db, page_size=1)
    with pytest.raises(KilledError):
        service(db, InMemoryTaskQueue(), scans=dying).retention()
    assert len(job_ids(db)) == len(expected) + 2 - 1, "the first page was deleted"
    report = service(db, InMemoryTaskQueue()).retention()
    assert report.total == sum(expected.values()) - 1
    assert not {j for j, d in expected.items() if d} & job_ids(db)


def test_a_job_retried_since_it_was_read_is_not_deleted(db: Any) -> None:
    seed_job(db, "failed-old", "failed", completedAt=NOW - 31 * DAY)

    class RetriedMeanwhile(FirestoreCleanupScans):
        def _delete_all(self, snapshots: list[Any]) -> int:
            # The learner retries it between the sweep's read and its delete.
            db.collection(JOBS).document("failed-old").update({"status": "pending"})
            return super()._delete_all(snapshots)

    report = service(db, InMemoryTaskQueue(), scans=RetriedMeanwhile(db)).retention()
    assert report.deleted_failed == 0
    assert db.collection(JOBS).document("failed-old").get().to_dict()["status"] == "pending"


def test_expired_rate_windows_and_idempotency_records_are_swept(db: Any) -> None:
    for collection in (RATE_WINDOWS, IDEMPOTENCY_KEYS):
        db.collection(collection).document("old").set({"expireAt": NOW - timedelta(seconds=1)})
        db.collection(collection).document("live").set({"expireAt": NOW + timedelta(hours=1)})
    assert service(db, InMemoryTaskQueue()).retention().expired_limit_documents == 2
    for collection in (RATE_WINDOWS, IDEMPOTENCY_KEYS):
        assert {s.id for s in db.collection(collection).stream()} == {"live"}


# ----- recovery ----------------------------------------------------------------------------


def test_expired_lease_with_attempts_left_is_requeued_as_a_new_run(db: Any) -> None:
    seed_job(
        db,
        "lost",
        "processing",
        attempts=1,
        run=0,
        leaseExpiresAt=NOW - timedelta(seconds=1),
        leaseToken="t",
        questionsSaved=1,
    )
    for position in range(3):  # the lost worker saved three; the job showed one
        db.collection(QUESTIONS).document(f"lost-q{position:03d}").set(
            {"generationJobId": "lost", "userId": "alice", "question": f"q{position}"}
        )
    set_counter(db, "alice", 1)
    queue = InMemoryTaskQueue()
    report = service(db, queue).recovery()
    assert report.requeued == ["lost"]
    assert queue.tasks == {"lost-run1": "lost"}
    doc = db.collection(JOBS).document("lost").get().to_dict()
    assert doc["status"] == "pending"
    assert doc["run"] == 1
    assert doc["lastErrorCode"] == "WORKER_LOST"
    assert doc["questionsSaved"] == 3
    assert "leaseToken" not in doc
    assert counter(db, "alice") == 1, "still active: the slot stays taken"


def test_expired_lease_on_the_last_attempt_fails_with_worker_lost(db: Any) -> None:
    seed_job(db, "lost", "processing", attempts=3, leaseExpiresAt=NOW - timedelta(minutes=1))
    set_counter(db, "alice", 1)
    queue = InMemoryTaskQueue()
    report = service(db, queue).recovery()
    assert report.failed_worker_lost == ["lost"]
    assert queue.tasks == {}
    doc = db.collection(JOBS).document("lost").get().to_dict()
    assert (doc["status"], doc["errorCode"], doc["retryable"]) == ("failed", "WORKER_LOST", True)
    assert doc["completedAt"] == NOW
    assert counter(db, "alice") == 0


def test_live_leases_and_recent_pending_jobs_are_left_alone(db: Any) -> None:
    seed_job(db, "working", "processing", leaseExpiresAt=NOW + timedelta(seconds=30))
    seed_job(db, "queued", "pending", enqueuedAt=NOW - timedelta(minutes=5))
    set_counter(db, "alice", 2)
    queue = InMemoryTaskQueue()
    report = service(db, queue).recovery()
    assert (report.requeued, report.failed_worker_lost, report.pending_requeued) == ([], [], [])
    assert queue.attempts == 0


def test_a_pending_job_whose_task_was_lost_is_queued_again_as_a_new_run(db: Any) -> None:
    seed_job(db, "stranded", "pending", run=2, enqueuedAt=NOW - timedelta(hours=2))
    set_counter(db, "alice", 1)
    queue = InMemoryTaskQueue()
    assert service(db, queue).recovery().pending_requeued == ["stranded"]
    # A fresh name: the old one stays reserved by Cloud Tasks for about an hour.
    assert queue.tasks == {"stranded-run3": "stranded"}
    doc = db.collection(JOBS).document("stranded").get().to_dict()
    assert (doc["run"], doc["enqueuedAt"]) == (3, NOW)
    # A second sweep finds it freshly queued: nothing more.
    assert service(db, queue).recovery().pending_requeued == []
    assert queue.attempts == 1


def test_counter_drift_is_repaired_and_reported(db: Any) -> None:
    seed_job(db, "a1", "pending", user="alice", enqueuedAt=NOW)
    seed_job(db, "a2", "processing", user="alice", leaseExpiresAt=NOW + DAY)
    seed_job(db, "a3", "completed", user="alice", completedAt=NOW)
    set_counter(db, "alice", 5)
    set_counter(db, "bob", -1)
    set_counter(db, "carol", 0)
    report = service(db, InMemoryTaskQueue()).recovery()
    repaired = {r["user_id"]: (r["recorded"], r["actual"]) for r in report.counters_repaired}
    assert repaired == {"alice": (5, 2), "bob": (-1, 0)}
    assert (counter(db, "alice"), counter(db, "bob"), counter(db, "carol")) == (2, 0, 0)


def test_run_all_reports_both_parts(db: Any) -> None:
    seed_retention_fixture(db)
    result = service(db, InMemoryTaskQueue()).run(CleanupMode.ALL)
    assert result["retention"]["total"] == 3  # type: ignore[index]
    assert "countersRepaired" in result["recovery"]  # type: ignore[operator]


def test_counter_repair_reads_only_active_learners_and_nonzero_counters(db: Any) -> None:
    from qgen.adapters.firestore.cleanup import FirestoreCleanupScans

    for n in range(30):
        set_counter(db, f"idle{n}", 0)
    set_counter(db, "drifted", 2)  # no active job: should be 0
    seed_job(db, "a1", "processing", user="lost", leaseExpiresAt=NOW + DAY)  # counter missing
    set_counter(db, "lost", 0)
    users = sorted(FirestoreCleanupScans(db, page_size=7).users_to_recount())
    assert users == ["drifted", "lost"]
    report = service(db, InMemoryTaskQueue()).recovery()
    assert sorted(r["user_id"] for r in report.counters_repaired) == ["drifted", "lost"]
    assert (counter(db, "drifted"), counter(db, "lost")) == (0, 1)
