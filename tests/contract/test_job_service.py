"""Job use cases (create, limits, idempotency, list, get, cancel, retry), on both backends.

The queue is the in-memory fake (it deduplicates task names as Cloud Tasks does).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from qgen.config import Settings
from qgen.domain.errors import DomainError, ErrorCode
from qgen.domain.jobs import JobStatus
from qgen.services.jobs import CreateRequest, JobService

from tests.support.backends import Backend
from tests.support.fakes import FakeClock, InMemoryTaskQueue


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 28, 10, 30, tzinfo=UTC))


@pytest.fixture
def queue() -> InMemoryTaskQueue:
    return InMemoryTaskQueue()


def make_service(
    backend: Backend, queue: InMemoryTaskQueue, clock: FakeClock, **overrides: Any
) -> JobService:
    settings = Settings(project_id="demo-qgen-test", **overrides)
    return JobService(
        uow=backend.uow, reader=backend.reader, queue=queue, settings=settings, clock=clock
    )


@pytest.fixture
def service(backend: Backend, queue: InMemoryTaskQueue, clock: FakeClock) -> JobService:
    return make_service(backend, queue, clock)


def create(service: JobService, user: str = "alice", prompt: str = "NATO alphabet", **kw: Any):  # type: ignore[no-untyped-def]
    return service.create(
        CreateRequest(user_id=user, prompt=prompt, client_ip=kw.pop("ip", "203.0.113.7"), **kw)
    )


def set_status(backend: Backend, job_id: str, status: JobStatus) -> None:
    backend.put_job(job_id, backend.job(job_id).changed(status=status))


def burst(request: Callable[[int], object], count: int) -> list[str]:
    """``count`` requests at once: "ok" or the refusal's code for each, in order."""

    def attempt(i: int) -> str:
        try:
            request(i)
            return "ok"
        except DomainError as error:
            return error.code.value

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(attempt, range(count)))


def error_code(fn: Any) -> ErrorCode:
    with pytest.raises(DomainError) as exc:
        fn()
    return exc.value.code


# ----- create ------------------------------------------------------------------------------


def test_create_writes_a_pending_job_takes_a_slot_and_enqueues_one_task(
    backend: Backend, service: JobService, queue: InMemoryTaskQueue, clock: FakeClock
) -> None:
    admission = create(service, prompt="   NATO alphabet  ")
    assert not admission.replayed
    job_id = admission.stored.job_id
    job = backend.job(job_id)
    assert job == admission.stored.job
    assert job.status is JobStatus.PENDING
    assert (job.prompt, job.user_id, job.ip_address) == ("NATO alphabet", "alice", "203.0.113.7")
    assert (job.questions_saved, job.question_ids, job.created_at) == (0, [], clock.now)
    assert backend.active_counter("alice") == 1
    assert queue.tasks == {f"{job_id}-run0": job_id}
    assert backend.window_counts() == [1, 1]  # the learner's window and the address's


@pytest.mark.parametrize(
    ("prompt", "code"),
    [("  a ", ErrorCode.PROMPT_TOO_SHORT), ("x" * 5001, ErrorCode.PROMPT_TOO_LONG)],
)
def test_invalid_prompts_write_nothing(
    backend: Backend, service: JobService, queue: InMemoryTaskQueue, prompt: str, code: ErrorCode
) -> None:
    assert error_code(lambda: create(service, prompt=prompt)) is code
    assert backend.jobs_of("alice") == []
    assert backend.active_counter("alice") == 0
    assert queue.attempts == 0


def test_fourth_active_job_is_refused_and_counts_pending_and_processing(
    backend: Backend, service: JobService
) -> None:
    first = create(service).stored.job_id
    create(service)
    create(service)
    # The original only counted processing jobs; a pending one must hold a slot too.
    set_status(backend, first, JobStatus.PROCESSING)
    assert error_code(lambda: create(service)) is ErrorCode.CONCURRENCY_LIMIT
    assert len(backend.jobs_of("alice")) == 3
    assert backend.active_counter("alice") == 3
    # Another user is not affected.
    create(service, user="bob")


def test_parallel_burst_of_ten_from_one_user_admits_exactly_three(
    backend: Backend, queue: InMemoryTaskQueue, clock: FakeClock
) -> None:
    # Two service instances, as two function instances would be: their in-process admission
    # locks are separate, so only the Firestore transaction stands between them.
    instances = [make_service(backend, queue, clock), make_service(backend, queue, clock)]

    outcomes = burst(lambda i: create(instances[i % 2], prompt=f"topic number {i}"), 10)
    assert outcomes.count("ok") == 3, outcomes
    assert outcomes.count("CONCURRENCY_LIMIT") == 7, outcomes
    assert len(backend.jobs_of("alice")) == 3
    assert backend.active_counter("alice") == 3


# ----- rate limits ---------------------------------------------------------------------------


def test_user_rate_limit_rejects_with_retry_after_and_without_consuming(
    backend: Backend, queue: InMemoryTaskQueue, clock: FakeClock
) -> None:
    service = make_service(backend, queue, clock, user_rate_limit=2, max_concurrent_per_user=10)
    create(service)
    create(service)
    with pytest.raises(DomainError) as exc:
        create(service)
    assert exc.value.code is ErrorCode.RATE_LIMITED
    assert exc.value.retry_after_seconds == 30 * 60
    assert exc.value.details["scope"] == "user"
    assert backend.window_counts() == [2, 2], "a rejected request must not consume quota"
    # The next window admits again.
    clock.now += timedelta(minutes=31)
    create(service)


def test_ip_rate_limit_spans_users(
    backend: Backend, queue: InMemoryTaskQueue, clock: FakeClock
) -> None:
    service = make_service(backend, queue, clock, ip_rate_limit=2)
    create(service, user="a", ip="198.51.100.1")
    create(service, user="b", ip="198.51.100.1")
    with pytest.raises(DomainError) as exc:
        create(service, user="c", ip="198.51.100.1")
    assert exc.value.code is ErrorCode.RATE_LIMITED
    assert exc.value.details["scope"] == "ip"
    create(service, user="c", ip="198.51.100.2")


def test_a_burst_behind_one_address_is_counted_exactly_and_then_refused(
    backend: Backend, queue: InMemoryTaskQueue, clock: FakeClock
) -> None:
    # The per-address limit is coarse by design (decisions §31): counted outside the
    # transaction's reads, so a burst may pass it, but every admission is counted.
    service = make_service(backend, queue, clock, ip_rate_limit=2)
    outcomes = burst(lambda i: create(service, user=f"user{i}", ip="198.51.100.9"), 5)
    admitted = outcomes.count("ok")
    assert admitted >= 2, outcomes
    assert set(outcomes) <= {"ok", "RATE_LIMITED"}, outcomes
    assert sorted(backend.window_counts()) == sorted([1] * admitted + [admitted])
    assert error_code(lambda: create(service, user="late", ip="198.51.100.9")) is (
        ErrorCode.RATE_LIMITED
    )


def test_an_ipv6_client_is_limited_per_64_network(
    backend: Backend, queue: InMemoryTaskQueue, clock: FakeClock
) -> None:
    service = make_service(backend, queue, clock, ip_rate_limit=2)
    create(service, user="a", ip="2001:db8:1:2::1")
    create(service, user="b", ip="2001:db8:1:2:ffff::7")
    rotated = lambda: create(service, user="c", ip="2001:db8:1:2:abcd::9")  # noqa: E731
    assert error_code(rotated) is ErrorCode.RATE_LIMITED
    create(service, user="c", ip="2001:db8:1:3::1")  # another /64 is another address


# ----- idempotency ---------------------------------------------------------------------------


def test_idempotency_key_replays_the_same_job(
    backend: Backend, service: JobService, queue: InMemoryTaskQueue
) -> None:
    first = create(service, idempotency_key="key-1")
    again = create(service, idempotency_key="key-1")
    assert again.replayed
    assert not first.replayed
    assert again.stored.job_id == first.stored.job_id
    assert len(backend.jobs_of("alice")) == 1
    assert backend.active_counter("alice") == 1
    # The replay re-enqueues the still-pending job; the task name makes it a no-op.
    assert queue.attempts == 2
    assert len(queue.tasks) == 1


def test_idempotency_key_with_another_prompt_is_refused(
    backend: Backend, service: JobService
) -> None:
    create(service, idempotency_key="key-1")
    assert (
        error_code(lambda: create(service, prompt="React hooks", idempotency_key="key-1"))
        is ErrorCode.IDEMPOTENCY_KEY_REUSED
    )


def test_idempotency_keys_are_scoped_per_user(backend: Backend, service: JobService) -> None:
    a = create(service, user="alice", idempotency_key="same")
    b = create(service, user="bob", idempotency_key="same")
    assert a.stored.job_id != b.stored.job_id


def test_idempotency_key_expires_after_a_day(service: JobService, clock: FakeClock) -> None:
    first = create(service, idempotency_key="k")
    clock.now += timedelta(hours=24, seconds=1)
    second = create(service, idempotency_key="k")
    assert second.stored.job_id != first.stored.job_id
    assert not second.replayed


def test_concurrent_requests_with_one_key_create_one_job(
    backend: Backend, service: JobService
) -> None:
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda _: create(service, idempotency_key="k"), range(3)))
    assert len({r.stored.job_id for r in results}) == 1
    assert [r.replayed for r in results].count(False) == 1
    assert len(backend.jobs_of("alice")) == 1


@pytest.mark.parametrize("key", ["", "   ", "x" * 256, "bad\x00key", "has space", "ключ"])
def test_malformed_idempotency_keys_are_rejected(service: JobService, key: str) -> None:
    assert error_code(lambda: create(service, idempotency_key=key)) is ErrorCode.INVALID_ARGUMENT


# ----- enqueue failure -----------------------------------------------------------------------


def test_enqueue_failure_fails_the_job_releases_its_slot_and_reports_503(
    backend: Backend,
    service: JobService,
    queue: InMemoryTaskQueue,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="qgen")
    queue.fail_with = "ServiceUnavailable"
    with pytest.raises(DomainError) as exc:
        create(service)
    assert exc.value.code is ErrorCode.QUEUE_UNAVAILABLE
    job_id = exc.value.details["jobId"]
    job = backend.job(str(job_id))
    assert job.status is JobStatus.FAILED
    assert (job.error_code, job.retryable) == ("QUEUE_UNAVAILABLE", True)
    assert job.completed_at is not None
    assert "retry" in (job.error_message or "")
    assert backend.active_counter("alice") == 0
    failed = [r for r in caplog.records if getattr(r, "event", "") == "job.failed"]
    assert [(r.jobId, r.errorCode) for r in failed] == [(job_id, "QUEUE_UNAVAILABLE")]  # type: ignore[attr-defined]


# ----- list / get / cancel -------------------------------------------------------------------


def test_list_is_newest_first_limited_and_only_the_callers(
    service: JobService, clock: FakeClock
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


def test_cancel_pending_releases_the_slot_at_once(backend: Backend, service: JobService) -> None:
    ids = [create(service, prompt=f"topic {i}").stored.job_id for i in range(3)]
    cancelled = service.cancel("alice", ids[0])
    assert cancelled.job.status.value == "cancelled"
    assert cancelled.job.completed_at is not None
    assert backend.job(ids[0]).status is JobStatus.CANCELLED
    assert backend.active_counter("alice") == 2
    create(service)  # the freed slot is usable immediately


def test_cancel_processing_job_and_terminal_jobs(backend: Backend, service: JobService) -> None:
    job_id = create(service).stored.job_id
    set_status(backend, job_id, JobStatus.PROCESSING)
    assert service.cancel("alice", job_id).job.status.value == "cancelled"
    assert backend.active_counter("alice") == 0
    with pytest.raises(DomainError) as exc:
        service.cancel("alice", job_id)
    assert exc.value.code is ErrorCode.NOT_CANCELLABLE
    assert exc.value.details == {"status": "cancelled"}
    assert backend.active_counter("alice") == 0, "a refused cancel must not touch the counter"


@pytest.mark.parametrize("status", ["completed", "failed"])
def test_terminal_jobs_are_not_cancellable(
    backend: Backend, service: JobService, status: str
) -> None:
    job_id = create(service).stored.job_id
    set_status(backend, job_id, JobStatus(status))
    assert error_code(lambda: service.cancel("alice", job_id)) is ErrorCode.NOT_CANCELLABLE


def test_cancel_someone_elses_or_a_missing_job_is_not_found(
    backend: Backend, service: JobService
) -> None:
    job_id = create(service, user="alice").stored.job_id
    assert error_code(lambda: service.cancel("bob", job_id)) is ErrorCode.NOT_FOUND
    assert error_code(lambda: service.cancel("bob", "missing")) is ErrorCode.NOT_FOUND
    assert backend.job(job_id).status is JobStatus.PENDING


def test_concurrent_cancels_release_the_slot_once(backend: Backend, service: JobService) -> None:
    job_id = create(service).stored.job_id

    outcomes = burst(lambda _: service.cancel("alice", job_id), 3)
    assert sorted(outcomes) == ["NOT_CANCELLABLE", "NOT_CANCELLABLE", "ok"]
    assert backend.active_counter("alice") == 0


# ----- retry ---------------------------------------------------------------------------------


def failed_job(backend: Backend, service: JobService, *, retryable: bool = True) -> str:
    job_id = create(service).stored.job_id
    job = backend.job(job_id)
    backend.put_job(
        job_id,
        job.changed(
            status=JobStatus.FAILED,
            retryable=retryable,
            error_code="RATE_LIMIT",
            last_error_code="RATE_LIMIT",
            error_message="busy",
            completed_at=job.created_at,
            attempts=5,
        ),
    )
    # put_job bypasses the services, so the failed job still holds its slot in the counter.
    return job_id


def test_retry_requeues_a_failed_retryable_job_as_a_new_run(
    backend: Backend, queue: InMemoryTaskQueue, clock: FakeClock
) -> None:
    service = make_service(backend, queue, clock, max_concurrent_per_user=2)
    job_id = failed_job(backend, service)
    retried = service.retry("alice", job_id, "203.0.113.7")
    assert retried.job == backend.job(job_id)
    assert (retried.job.status, retried.job.run, retried.job.attempts) == (
        JobStatus.PENDING,
        1,
        0,
    )
    assert retried.job.error_code is None
    assert retried.job.completed_at is None
    assert f"{job_id}-run1" in queue.tasks
    assert backend.active_counter("alice") == 2  # the slot still held (see failed_job) + this
    assert backend.window_counts() == [2, 2]


def test_retry_refuses_what_cannot_be_retried_and_respects_the_limits(
    backend: Backend, queue: InMemoryTaskQueue, clock: FakeClock
) -> None:
    service = make_service(backend, queue, clock, max_concurrent_per_user=1)
    final = failed_job(backend, service, retryable=False)
    assert error_code(lambda: service.retry("alice", final, "x")) is ErrorCode.NOT_RETRYABLE
    assert error_code(lambda: service.retry("bob", final, "x")) is ErrorCode.NOT_FOUND
    pending = create(make_service(backend, queue, clock, max_concurrent_per_user=5)).stored.job_id
    assert error_code(lambda: service.retry("alice", pending, "x")) is ErrorCode.NOT_RETRYABLE
    retryable = failed_job(backend, make_service(backend, queue, clock, max_concurrent_per_user=5))
    # Two slots held (the failed jobs' slots were never released by put_job): over the limit.
    assert error_code(lambda: service.retry("alice", retryable, "x")) is ErrorCode.CONCURRENCY_LIMIT
    assert backend.job(retryable).status is JobStatus.FAILED
