"""CleanupService on the in-memory ports: retention, recovery and counter repair."""

from __future__ import annotations

from datetime import timedelta

from qgen.config import Settings
from qgen.domain import transitions
from qgen.domain.jobs import Job, JobStatus, question_id
from qgen.domain.questions import QuestionDraft, SavedQuestion
from qgen.services.cleanup import CleanupMode, CleanupService

from tests.support.fakes import FakeClock, InMemoryTaskQueue, MemoryStore
from tests.support.questions import item


def cleanup(store: MemoryStore, queue: InMemoryTaskQueue, clock: FakeClock) -> CleanupService:
    settings = Settings(project_id="t", max_attempts=3, stale_pending_seconds=600)
    return CleanupService(scans=store, uow=store, queue=queue, settings=settings, clock=clock)


def put(store: MemoryStore, job_id: str, job: Job) -> None:
    store.state.jobs[job_id] = job
    store.state.counters[job.user_id] = store.state.counters.get(job.user_id, 0) + job.is_active


def job(clock: FakeClock, **fields: object) -> Job:
    base = transitions.admit(user_id="alice", prompt="p", now=clock.now, ip_address=None)
    return Job.model_validate({**base.model_dump(), **fields})


def test_retention_deletes_each_status_after_its_own_period(
    store: MemoryStore, queue: InMemoryTaskQueue, clock: FakeClock
) -> None:
    days = timedelta(days=1)
    for status, age in [("completed", 8), ("failed", 31), ("cancelled", 8)]:
        put(store, f"old-{status}", job(clock, status=status, completed_at=clock.now - age * days))
        put(store, f"new-{status}", job(clock, status=status, completed_at=clock.now - 6 * days))
    put(store, "young-failed", job(clock, status="failed", completed_at=clock.now - 20 * days))
    report = cleanup(store, queue, clock).retention()
    assert (report.deleted_completed, report.deleted_failed, report.deleted_cancelled) == (1, 1, 1)
    assert report.total == 3
    assert sorted(store.state.jobs) == [
        "new-cancelled",
        "new-completed",
        "new-failed",
        "young-failed",
    ]


def test_recovery_requeues_or_fails_lost_workers_and_leaves_live_ones(
    store: MemoryStore, queue: InMemoryTaskQueue, clock: FakeClock
) -> None:
    expired = clock.now - timedelta(seconds=1)
    live = clock.now + timedelta(seconds=60)
    put(store, "lost", job(clock, status="processing", attempts=1, lease_expires_at=expired))
    put(store, "last", job(clock, status="processing", attempts=3, lease_expires_at=expired))
    put(store, "live", job(clock, status="processing", attempts=1, lease_expires_at=live))
    report = cleanup(store, queue, clock).recovery()
    assert report.requeued == ["lost"]
    assert report.failed_worker_lost == ["last"]
    jobs = store.state.jobs
    assert (jobs["lost"].status, jobs["lost"].run) == (JobStatus.PENDING, 1)
    assert queue.tasks == {"lost-run1": "lost"}
    assert (jobs["last"].status, jobs["last"].error_code) == (JobStatus.FAILED, "WORKER_LOST")
    assert jobs["live"].status is JobStatus.PROCESSING
    assert store.state.counters["alice"] == 2, "the failed job released its slot"
    assert report.counters_repaired == []


def test_a_lost_workers_job_counts_the_questions_it_saved_before_it_died(
    store: MemoryStore, queue: InMemoryTaskQueue, clock: FakeClock
) -> None:
    expired = clock.now - timedelta(seconds=1)
    lost = job(clock, status="processing", attempts=3, estimated_total=8, lease_expires_at=expired)
    put(store, "last", lost)
    draft = QuestionDraft.model_validate(item(0))
    for position in range(3):  # saved by the worker; its progress write never came
        saved = SavedQuestion.of(draft, job_id="last", user_id="alice", topic="t", now=clock.now)
        store.state.questions[question_id("last", position)] = saved
    cleanup(store, queue, clock).recovery()
    failed = store.state.jobs["last"]
    assert (failed.status, failed.questions_saved) == (JobStatus.FAILED, 3)
    assert failed.question_ids == [question_id("last", p) for p in range(3)]


def test_recovery_revives_stale_pending_jobs_as_a_new_run(
    store: MemoryStore, queue: InMemoryTaskQueue, clock: FakeClock
) -> None:
    put(store, "stale", job(clock, run=2, enqueued_at=clock.now - timedelta(seconds=601)))
    put(store, "recent", job(clock, enqueued_at=clock.now - timedelta(seconds=10)))
    service = cleanup(store, queue, clock)
    assert service.recovery().pending_requeued == ["stale"]
    assert queue.tasks == {"stale-run3": "stale"}
    assert store.state.jobs["stale"].enqueued_at == clock.now
    assert service.recovery().pending_requeued == [], "freshly queued: nothing more"


def test_an_enqueue_failure_leaves_the_job_for_the_next_sweep(
    store: MemoryStore, queue: InMemoryTaskQueue, clock: FakeClock
) -> None:
    put(store, "stale", job(clock, enqueued_at=clock.now - timedelta(seconds=601)))
    queue.fail_with = "Unavailable"
    report = cleanup(store, queue, clock).recovery()
    assert (report.pending_requeued, report.enqueue_failures) == ([], ["stale"])
    assert store.state.jobs["stale"].status is JobStatus.PENDING


def test_counter_drift_is_repaired_and_reported(
    store: MemoryStore, queue: InMemoryTaskQueue, clock: FakeClock
) -> None:
    put(store, "a", job(clock))
    store.state.counters["alice"] = 3
    store.state.counters["bob"] = -1
    result = cleanup(store, queue, clock).run(CleanupMode.ALL)
    repaired = result["recovery"]["countersRepaired"]  # type: ignore[index]
    assert repaired == [
        {"user_id": "alice", "recorded": 3, "actual": 1},
        {"user_id": "bob", "recorded": -1, "actual": 0},
    ]
    assert store.state.counters == {"alice": 1, "bob": 0}
    assert set(result) == {"mode", "retention", "recovery"}


def test_counter_repair_visits_only_learners_whose_counter_could_be_wrong(
    store: MemoryStore, queue: InMemoryTaskQueue, clock: FakeClock
) -> None:
    for n in range(50):  # learners seen once, all settled: nothing to visit
        store.state.counters[f"idle{n}"] = 0
    put(store, "a", job(clock))  # active job, counter lost (0): drifted up
    store.state.counters["alice"] = 0
    assert list(store.users_to_recount()) == ["alice"]
    report = cleanup(store, queue, clock).recovery()
    assert report.counters_repaired == [{"user_id": "alice", "recorded": 0, "actual": 1}]


def test_a_job_whose_tasks_never_reach_a_worker_is_counted_and_fails_at_the_last_attempt(
    store: MemoryStore, queue: InMemoryTaskQueue, clock: FakeClock
) -> None:
    old = clock.now - timedelta(seconds=601)
    put(store, "twice", job(clock, attempts=1, enqueued_at=old))
    put(store, "last", job(clock, attempts=2, enqueued_at=old))
    report = cleanup(store, queue, clock).recovery()  # max_attempts 3
    assert report.pending_requeued == ["twice"]
    assert store.state.jobs["twice"].attempts == 2, "the undelivered tasks count as an attempt"
    assert report.failed_undelivered == ["last"]
    failed = store.state.jobs["last"]
    assert (failed.status, failed.error_code, failed.retryable) == (
        JobStatus.FAILED,
        "UNDELIVERED",
        True,
    )
    assert store.state.counters["alice"] == 1, "the failed job gave its slot back"
