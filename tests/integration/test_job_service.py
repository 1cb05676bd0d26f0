"""Job use cases against the real Firestore emulator (the queue is the in-memory fake)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.cloud.firestore import FieldFilter
from qgen.adapters.firestore_store import (
    ACTIVE_COUNTERS,
    IDEMPOTENCY_KEYS,
    JOBS,
    RATE_WINDOWS,
    FirestoreStore,
)
from qgen.config import Settings
from qgen.domain.errors import DomainError, ErrorCode
from qgen.services.jobs import CreateRequest, JobService

from tests.conftest import PROJECT_ID
from tests.fakes import InMemoryTaskQueue

pytestmark = pytest.mark.integration


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 11, 28, 10, 30, tzinfo=UTC))


@pytest.fixture
def queue() -> InMemoryTaskQueue:
    return InMemoryTaskQueue()


def make_service(
    db: Any, queue: InMemoryTaskQueue, clock: FixedClock, **overrides: Any
) -> JobService:
    settings = Settings(project_id=PROJECT_ID, **overrides)
    store = FirestoreStore(db, transaction_max_attempts=settings.transaction_max_attempts)
    return JobService(store=store, queue=queue, settings=settings, clock=clock)


@pytest.fixture
def service(db: Any, queue: InMemoryTaskQueue, clock: FixedClock) -> JobService:
    return make_service(db, queue, clock)


def create(service: JobService, user: str = "alice", prompt: str = "NATO alphabet", **kw: Any):  # type: ignore[no-untyped-def]
    return service.create(
        CreateRequest(user_id=user, prompt=prompt, client_ip=kw.pop("ip", "203.0.113.7"), **kw)
    )


def active_counter(db: Any, user: str) -> int:
    snap = db.collection(ACTIVE_COUNTERS).document(user).get()
    return int(snap.to_dict()["activeJobs"]) if snap.exists else 0


def jobs_of(db: Any, user: str) -> list[dict[str, Any]]:
    return [
        s.to_dict()
        for s in db.collection(JOBS).where(filter=FieldFilter("userId", "==", user)).stream()
    ]


def error_code(fn: Any) -> ErrorCode:
    with pytest.raises(DomainError) as exc:
        fn()
    return exc.value.code


# ----- create ------------------------------------------------------------------------------


def test_create_writes_a_pending_job_takes_a_slot_and_enqueues_one_task(
    db: Any, service: JobService, queue: InMemoryTaskQueue, clock: FixedClock
) -> None:
    admission = create(service, prompt="   NATO alphabet  ")
    assert not admission.replayed
    job_id = admission.stored.job_id
    doc = db.collection(JOBS).document(job_id).get().to_dict()
    assert doc["status"] == "pending"
    assert doc["prompt"] == "NATO alphabet"
    assert doc["userId"] == "alice"
    assert doc["questionsSaved"] == 0
    assert doc["questionIds"] == []
    assert doc["createdAt"] == clock.now
    assert doc["ipAddress"] == "203.0.113.7"
    assert active_counter(db, "alice") == 1
    assert queue.tasks == {f"{job_id}-run0": job_id}
    windows = [s.to_dict() for s in db.collection(RATE_WINDOWS).stream()]
    assert sorted(w["scope"] for w in windows) == ["ip", "user"]
    assert all(w["count"] == 1 for w in windows)
    assert all(w["expireAt"] == datetime(2026, 11, 28, 11, 0, tzinfo=UTC) for w in windows)


@pytest.mark.parametrize(
    ("prompt", "code"),
    [("  a ", ErrorCode.PROMPT_TOO_SHORT), ("x" * 5001, ErrorCode.PROMPT_TOO_LONG)],
)
def test_invalid_prompts_write_nothing(
    db: Any, service: JobService, queue: InMemoryTaskQueue, prompt: str, code: ErrorCode
) -> None:
    assert error_code(lambda: create(service, prompt=prompt)) is code
    assert jobs_of(db, "alice") == []
    assert active_counter(db, "alice") == 0
    assert queue.attempts == 0


def test_fourth_active_job_is_refused_and_counts_pending_and_processing(
    db: Any, service: JobService
) -> None:
    first = create(service).stored.job_id
    create(service)
    create(service)
    # The original only counted processing jobs; a pending one must hold a slot too.
    db.collection(JOBS).document(first).update({"status": "processing"})
    assert error_code(lambda: create(service)) is ErrorCode.CONCURRENCY_LIMIT
    assert len(jobs_of(db, "alice")) == 3
    assert active_counter(db, "alice") == 3
    # Another user is not affected.
    create(service, user="bob")


def test_parallel_burst_of_ten_from_one_user_admits_exactly_three(
    db: Any, queue: InMemoryTaskQueue, clock: FixedClock
) -> None:
    # Two service instances, as two function instances would be: their in-process admission
    # locks are separate, so only the Firestore transaction stands between them.
    instances = [make_service(db, queue, clock), make_service(db, queue, clock)]

    def attempt(i: int) -> str:
        try:
            create(instances[i % 2], prompt=f"topic number {i}")
            return "admitted"
        except DomainError as error:
            return error.code.value

    with ThreadPoolExecutor(max_workers=10) as pool:
        outcomes = list(pool.map(attempt, range(10)))
    assert outcomes.count("admitted") == 3, outcomes
    assert outcomes.count("CONCURRENCY_LIMIT") == 7, outcomes
    assert len(jobs_of(db, "alice")) == 3
    assert active_counter(db, "alice") == 3


# ----- rate limits ---------------------------------------------------------------------------


def test_user_rate_limit_rejects_with_retry_after_and_without_consuming(
    db: Any, queue: InMemoryTaskQueue, clock: FixedClock
) -> None:
    service = make_service(db, queue, clock, user_rate_limit=2, max_concurrent_per_user=10)
    create(service)
    create(service)
    with pytest.raises(DomainError) as exc:
        create(service)
    assert exc.value.code is ErrorCode.RATE_LIMITED
    assert exc.value.retry_after_seconds == 30 * 60
    assert exc.value.details["scope"] == "user"
    counts = sorted(s.to_dict()["count"] for s in db.collection(RATE_WINDOWS).stream())
    assert counts == [2, 2], "a rejected request must not consume quota"
    # The next window admits again.
    clock.now += timedelta(minutes=31)
    create(service)


def test_ip_rate_limit_spans_users(db: Any, queue: InMemoryTaskQueue, clock: FixedClock) -> None:
    service = make_service(db, queue, clock, ip_rate_limit=2)
    create(service, user="a", ip="198.51.100.1")
    create(service, user="b", ip="198.51.100.1")
    with pytest.raises(DomainError) as exc:
        create(service, user="c", ip="198.51.100.1")
    assert exc.value.code is ErrorCode.RATE_LIMITED
    assert exc.value.details["scope"] == "ip"
    create(service, user="c", ip="198.51.100.2")


def test_parallel_burst_never_over_admits_past_the_rate_limit(
    db: Any, queue: InMemoryTaskQueue, clock: FixedClock
) -> None:
    service = make_service(db, queue, clock, ip_rate_limit=2)

    def attempt(i: int) -> str:
        try:
            create(service, user=f"user{i}", ip="198.51.100.9")
            return "admitted"
        except DomainError as error:
            return error.code.value

    with ThreadPoolExecutor(max_workers=5) as pool:
        outcomes = list(pool.map(attempt, range(5)))
    assert outcomes.count("admitted") == 2, outcomes
    assert outcomes.count("RATE_LIMITED") == 3, outcomes
    (window,) = [
        s.to_dict() for s in db.collection(RATE_WINDOWS).stream() if s.to_dict()["scope"] == "ip"
    ]
    assert window["count"] == 2


# ----- idempotency ---------------------------------------------------------------------------


def test_idempotency_key_replays_the_same_job(
    db: Any, service: JobService, queue: InMemoryTaskQueue
) -> None:
    first = create(service, idempotency_key="key-1")
    again = create(service, idempotency_key="key-1")
    assert again.replayed
    assert not first.replayed
    assert again.stored.job_id == first.stored.job_id
    assert len(jobs_of(db, "alice")) == 1
    assert active_counter(db, "alice") == 1
    # The replay re-enqueues the still-pending job; the task name makes it a no-op.
    assert queue.attempts == 2
    assert len(queue.tasks) == 1
    record = next(iter(db.collection(IDEMPOTENCY_KEYS).stream())).to_dict()
    assert record["jobId"] == first.stored.job_id
    assert record["expireAt"] - record["createdAt"] == timedelta(hours=24)


def test_idempotency_key_with_another_prompt_is_refused(db: Any, service: JobService) -> None:
    create(service, idempotency_key="key-1")
    assert (
        error_code(lambda: create(service, prompt="React hooks", idempotency_key="key-1"))
        is ErrorCode.IDEMPOTENCY_KEY_REUSED
    )


def test_idempotency_keys_are_scoped_per_user(db: Any, service: JobService) -> None:
    a = create(service, user="alice", idempotency_key="same")
    b = create(service, user="bob", idempotency_key="same")
    assert a.stored.job_id != b.stored.job_id


def test_idempotency_key_expires_after_a_day(
    db: Any, service: JobService, clock: FixedClock
) -> None:
    first = create(service, idempotency_key="k")
    clock.now += timedelta(hours=24, seconds=1)
    second = create(service, idempotency_key="k")
    assert second.stored.job_id != first.stored.job_id
    assert not second.replayed


def test_concurrent_requests_with_one_key_create_one_job(db: Any, service: JobService) -> None:
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda _: create(service, idempotency_key="k"), range(3)))
    assert len({r.stored.job_id for r in results}) == 1
    assert [r.replayed for r in results].count(False) == 1
    assert len(jobs_of(db, "alice")) == 1


@pytest.mark.parametrize("key", ["", "   ", "x" * 256, "bad\x00key", "has space", "ключ"])
def test_malformed_idempotency_keys_are_rejected(service: JobService, key: str) -> None:
    assert error_code(lambda: create(service, idempotency_key=key)) is ErrorCode.INVALID_ARGUMENT


# ----- enqueue failure -----------------------------------------------------------------------


def test_enqueue_failure_fails_the_job_releases_its_slot_and_reports_503(
    db: Any, service: JobService, queue: InMemoryTaskQueue, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="qgen")
    queue.fail_with = "ServiceUnavailable"
    with pytest.raises(DomainError) as exc:
        create(service)
    assert exc.value.code is ErrorCode.QUEUE_UNAVAILABLE
    job_id = exc.value.details["jobId"]
    doc = db.collection(JOBS).document(str(job_id)).get().to_dict()
    assert doc["status"] == "failed"
    assert doc["errorCode"] == "QUEUE_UNAVAILABLE"
    assert doc["retryable"] is True
    assert doc["completedAt"] is not None
    assert "retry" in doc["errorMessage"]
    assert active_counter(db, "alice") == 0
    failed = [r for r in caplog.records if getattr(r, "event", "") == "job.failed"]
    assert [(r.jobId, r.errorCode) for r in failed] == [(job_id, "QUEUE_UNAVAILABLE")]  # type: ignore[attr-defined]


# ----- list / get / cancel -------------------------------------------------------------------


def test_list_is_newest_first_limited_and_only_the_callers(
    db: Any, service: JobService, clock: FixedClock
) -> None:
    ids = []
    for minute in range(3):
        clock.now += timedelta(minutes=1)
        ids.append(create(service, user="alice", prompt=f"topic {minute}").stored.job_id)
    create(service, user="bob")
    assert [j.job_id for j in service.list("alice", None)] == ids[::-1]
    assert [j.job_id for j in service.list("alice", 2)] == ids[:0:-1]
    for bad in (0, 51):
        assert error_code(lambda bad=bad: service.list("alice", bad)) is ErrorCode.INVALID_ARGUMENT


def test_get_hides_other_users_jobs(service: JobService) -> None:
    job_id = create(service, user="alice").stored.job_id
    assert service.get("alice", job_id).job_id == job_id
    assert error_code(lambda: service.get("bob", job_id)) is ErrorCode.NOT_FOUND
    assert error_code(lambda: service.get("alice", "nope")) is ErrorCode.NOT_FOUND


def test_cancel_pending_releases_the_slot_at_once(db: Any, service: JobService) -> None:
    ids = [create(service, prompt=f"topic {i}").stored.job_id for i in range(3)]
    cancelled = service.cancel("alice", ids[0])
    assert cancelled.job.status.value == "cancelled"
    assert cancelled.job.completed_at is not None
    assert db.collection(JOBS).document(ids[0]).get().to_dict()["status"] == "cancelled"
    assert active_counter(db, "alice") == 2
    create(service)  # the freed slot is usable immediately


def test_cancel_processing_job_and_terminal_jobs(db: Any, service: JobService) -> None:
    job_id = create(service).stored.job_id
    db.collection(JOBS).document(job_id).update({"status": "processing"})
    assert service.cancel("alice", job_id).job.status.value == "cancelled"
    assert active_counter(db, "alice") == 0
    with pytest.raises(DomainError) as exc:
        service.cancel("alice", job_id)
    assert exc.value.code is ErrorCode.NOT_CANCELLABLE
    assert exc.value.details == {"status": "cancelled"}
    assert active_counter(db, "alice") == 0, "a refused cancel must not touch the counter"


@pytest.mark.parametrize("status", ["completed", "failed"])
def test_terminal_jobs_are_not_cancellable(db: Any, service: JobService, status: str) -> None:
    job_id = create(service).stored.job_id
    db.collection(JOBS).document(job_id).update({"status": status})
    assert error_code(lambda: service.cancel("alice", job_id)) is ErrorCode.NOT_CANCELLABLE


def test_cancel_someone_elses_or_a_missing_job_is_not_found(db: Any, service: JobService) -> None:
    job_id = create(service, user="alice").stored.job_id
    assert error_code(lambda: service.cancel("bob", job_id)) is ErrorCode.NOT_FOUND
    assert error_code(lambda: service.cancel("bob", "missing")) is ErrorCode.NOT_FOUND
    assert db.collection(JOBS).document(job_id).get().to_dict()["status"] == "pending"


def test_concurrent_cancels_release_the_slot_once(db: Any, service: JobService) -> None:
    job_id = create(service).stored.job_id

    def cancel(_: int) -> str:
        try:
            service.cancel("alice", job_id)
            return "ok"
        except DomainError as error:
            return error.code.value

    with ThreadPoolExecutor(max_workers=3) as pool:
        outcomes = list(pool.map(cancel, range(3)))
    assert sorted(outcomes) == ["NOT_CANCELLABLE", "NOT_CANCELLABLE", "ok"]
    assert active_counter(db, "alice") == 0
