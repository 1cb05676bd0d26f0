"""Token budgets on both backends: reserve at admission, settle at the end, never leak."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from qgen.config import Settings
from qgen.domain.budgets import budget_day
from qgen.domain.errors import DomainError, ErrorCode
from qgen.domain.failures import FailureCode, ModelError
from qgen.domain.jobs import Usage
from qgen.services.jobs import CreateRequest, JobService
from qgen.services.worker import WorkerService

from tests.contract.test_job_service import burst
from tests.support.backends import Backend
from tests.support.fakes import FakeClock, InMemoryTaskQueue, ScriptedModel
from tests.support.questions import answer_stream

NOW = datetime(2026, 11, 30, 22, 0, tzinfo=UTC)
DAY = budget_day(NOW)


def settings(**overrides: Any) -> Settings:
    base = {
        "project_id": "demo-qgen-test",
        "job_token_reservation": 1_000,
        "daily_token_budget": 5_000,
        "max_concurrent_per_user": 50,
        "user_rate_limit": 100,
        "progress_write_interval_seconds": 0,
    }
    return Settings(**{**base, **overrides})


def services(backend: Backend, **overrides: Any) -> tuple[JobService, WorkerService]:
    s, clock = settings(**overrides), FakeClock(NOW)
    jobs = JobService(
        uow=backend.uow, reader=backend.reader, queue=InMemoryTaskQueue(), settings=s, clock=clock
    )
    model = ScriptedModel(
        pieces=answer_stream(2), usage=Usage(prompt_tokens=300, output_tokens=900)
    )
    worker = WorkerService(
        uow=backend.uow, reader=backend.reader, model=model, settings=s, clock=clock
    )
    return jobs, worker


def create(jobs: JobService, user: str = "alice") -> str:
    request = CreateRequest(user_id=user, prompt="NATO alphabet", client_ip="203.0.113.5")
    return jobs.create(request).stored.job_id


def test_a_job_reserves_at_admission_and_settles_its_usage_when_it_ends(
    backend: Backend,
) -> None:
    jobs, worker = services(backend)
    job_id = create(jobs)
    assert backend.reader.budget("alice", DAY).reserved == 1_000
    assert worker.process(job_id).outcome == "completed"
    budget = backend.reader.budget("alice", DAY)
    assert (budget.reserved, budget.spent) == (0, 1_200)
    assert backend.reader.project_spend(DAY) == 1_200
    cancelled = create(jobs)
    jobs.cancel("alice", cancelled)
    budget = backend.reader.budget("alice", DAY)
    assert (budget.reserved, budget.spent) == (0, 1_200), "a cancelled job gives its share back"


def test_past_the_budget_a_job_is_refused_until_midnight(backend: Backend) -> None:
    jobs, _ = services(backend, daily_token_budget=2_500)
    create(jobs)
    create(jobs)
    with pytest.raises(DomainError) as exc:
        create(jobs)
    assert exc.value.code is ErrorCode.BUDGET_EXCEEDED
    assert exc.value.retry_after_seconds == 2 * 3600  # 22:00 -> midnight UTC
    assert exc.value.details["dailyTokens"] == 2_500
    create(jobs, user="bob")  # another learner's budget is their own


def test_past_the_project_ceiling_admissions_stop_and_workers_start_no_model_call(
    backend: Backend,
) -> None:
    # A worker reads the project's spend at most every few seconds; here, every time.
    jobs, worker = services(
        backend, project_daily_token_ceiling=1_000, spend_reading_max_age_seconds=0
    )
    waiting = create(jobs)
    assert worker.process(create(jobs)).outcome == "completed"  # 1,200 spent: past it
    with pytest.raises(DomainError) as exc:
        create(jobs, user="bob")
    assert exc.value.code is ErrorCode.SERVICE_BUDGET_EXHAUSTED
    result = worker.process(waiting)
    assert (result.outcome, result.error_code) == ("retrying", FailureCode.SERVICE_BUDGET)


def test_twenty_parallel_jobs_near_the_budget_never_overspend_and_settle_exactly(
    backend: Backend,
) -> None:
    jobs, worker = services(backend, daily_token_budget=5_500)
    outcomes = burst(lambda _: create(jobs), 20)
    admitted = outcomes.count("ok")
    assert admitted == 5, outcomes  # 5 x 1,000 fit in 5,500; a sixth does not
    assert set(outcomes) == {"ok", "BUDGET_EXCEEDED"}
    ids = [j.job_id for j in backend.reader.list_jobs("alice", 50)]
    for job_id in ids:
        worker.process(job_id)
    budget = backend.reader.budget("alice", DAY)
    usage = [backend.job(i).usage for i in ids]
    assert budget.reserved == 0
    assert budget.spent == sum(u.prompt_tokens + u.output_tokens for u in usage if u)
    assert budget.spent <= 5_500 + 1_000, "never past the budget by more than a reservation"


def test_a_failed_job_settles_and_a_retry_reserves_again(backend: Backend) -> None:
    jobs, _ = services(backend, max_attempts=1)
    s = settings(max_attempts=1)
    failing = ScriptedModel(stream_end=ModelError(FailureCode.NETWORK), usage=None)
    worker = WorkerService(
        uow=backend.uow, reader=backend.reader, model=failing, settings=s, clock=FakeClock(NOW)
    )
    job_id = create(jobs)
    assert worker.process(job_id).outcome == "failed"
    assert backend.reader.budget("alice", DAY).reserved == 0
    jobs.retry("alice", job_id, "203.0.113.5")
    assert backend.reader.budget("alice", DAY).reserved == 1_000


def test_a_learner_sees_what_they_may_still_do(backend: Backend) -> None:
    jobs, worker = services(backend, max_concurrent_per_user=3, user_rate_limit=20)
    assert worker.process(create(jobs)).outcome == "completed"
    create(jobs)
    limits = jobs.limits("alice")
    assert (limits.active_jobs.used, limits.active_jobs.limit) == (1, 3)
    assert (limits.hourly_jobs.used, limits.hourly_jobs.limit) == (2, 20)
    assert limits.hourly_jobs.resets_at == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    tokens = limits.daily_tokens
    assert (tokens.limit, tokens.spent, tokens.reserved) == (5_000, 1_200, 1_000)
    assert (tokens.remaining, tokens.jobs_remaining) == (2_800, 2)
    assert tokens.resets_at == datetime(2026, 12, 1, tzinfo=UTC)
    fresh = jobs.limits("bob")
    assert (fresh.active_jobs.used, fresh.hourly_jobs.used, fresh.daily_tokens.spent) == (0, 0, 0)
