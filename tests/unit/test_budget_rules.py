"""The budget rules, pure: what a job's fields say about its learner's budget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from qgen.domain import budgets as b
from qgen.domain import transitions as t
from qgen.domain.errors import DomainError, ErrorCode
from qgen.domain.failures import FailureCode, failure_for
from qgen.domain.jobs import Usage
from qgen.domain.recovery import recover_lost_worker

NOW = datetime(2026, 11, 30, 23, 59, 30, tzinfo=UTC)


def admitted() -> t.Job:
    return t.admit(user_id="u", prompt="p", now=NOW, ip_address=None, reservation=1_000)


def test_the_day_is_utc_and_the_reset_is_its_midnight() -> None:
    assert b.budget_day(NOW) == "2026-11-30"
    assert b.seconds_until_next_day(NOW) == 30
    assert b.budget_day(NOW + timedelta(minutes=1)) == "2026-12-01"


def test_admission_reserves_and_every_ending_settles_once() -> None:
    job = admitted()
    assert b.budget_delta(None, job) == b.BudgetDelta("2026-11-30", reserved=1_000, spent=0)
    claimed = t.claim("j", job, now=NOW, lease_seconds=60, token="x").job
    assert claimed is not None
    assert b.budget_delta(job, claimed) is None, "a move that ends nothing moves no budget"
    used = Usage(prompt_tokens=100, output_tokens=250)
    done = t.complete(claimed, question_ids=[], now=NOW, usage=used, model="m")
    assert b.budget_delta(claimed, done) == b.BudgetDelta("2026-11-30", -1_000, 350)
    # A later day's save of the same job never counts it twice.
    assert b.budget_delta(done, done) is None


@pytest.mark.parametrize("ending", ["cancel", "final failure", "lost worker", "unqueued"])
def test_each_way_a_job_ends_gives_its_reservation_back(ending: str) -> None:
    job = admitted()
    claimed = t.claim("j", job, now=NOW, lease_seconds=60, token="x").job
    assert claimed is not None
    later = NOW + timedelta(seconds=61)
    ended = {
        "cancel": lambda: t.cancel(claimed, now=NOW),
        "final failure": lambda: t.fail_attempt(
            claimed, failure_for(FailureCode.API_KEY), now=NOW, max_attempts=5
        ),
        "lost worker": lambda: recover_lost_worker(claimed, now=later, max_attempts=1),
        "unqueued": lambda: t.fail_unqueued(
            job, code=ErrorCode.QUEUE_UNAVAILABLE, message="m", now=NOW
        ),
    }[ending]()
    assert ended is not None
    before = job if ending == "unqueued" else claimed
    delta = b.budget_delta(before, ended)
    assert delta is not None
    assert delta.reserved == -1_000


def test_a_retryable_failure_keeps_the_reservation_and_a_retry_takes_a_new_one() -> None:
    claimed = t.claim("j", admitted(), now=NOW, lease_seconds=60, token="x").job
    assert claimed is not None
    pending = t.fail_attempt(claimed, failure_for(FailureCode.NETWORK), now=NOW, max_attempts=5)
    assert b.budget_delta(claimed, pending) is None
    failed = t.fail_attempt(claimed, failure_for(FailureCode.API_KEY), now=NOW, max_attempts=5)
    failed = failed.changed(retryable=True)
    retried = t.retry(failed, now=NOW + timedelta(days=1), reservation=1_000)
    assert b.budget_delta(failed, retried) == b.BudgetDelta("2026-12-01", 1_000, 0)


def test_checks_refuse_past_the_limit_with_the_wait_until_midnight() -> None:
    b.check_budget(b.LearnerBudget(reserved=1_000, spent=2_000), tokens=1_000, limit=4_000, now=NOW)
    with pytest.raises(DomainError) as exc:
        b.check_budget(
            b.LearnerBudget(reserved=1_000, spent=2_001), tokens=1_000, limit=4_000, now=NOW
        )
    assert (exc.value.code, exc.value.retry_after_seconds) == (ErrorCode.BUDGET_EXCEEDED, 30)
    b.check_ceiling(999, ceiling=1_000, now=NOW)
    with pytest.raises(DomainError) as exc:
        b.check_ceiling(1_000, ceiling=1_000, now=NOW)
    assert exc.value.code is ErrorCode.SERVICE_BUDGET_EXHAUSTED
    assert b.LearnerBudget(reserved=1_000, spent=3_500).remaining(4_000) == 0


def test_a_worker_reads_the_project_spend_at_most_every_few_seconds() -> None:
    from qgen.services.spend_gauge import SpendGauge

    class Reader:
        reads = 0

        def project_spend(self, day: str) -> int:
            self.reads += 1
            return 100 * self.reads

    reader, ticks = Reader(), [0.0]
    gauge = SpendGauge(reader, lambda: NOW, max_age_seconds=10, monotonic=lambda: ticks[0])  # type: ignore[arg-type]
    assert (gauge.spent_today(), gauge.spent_today()) == (100, 100)
    ticks[0] = 10.0
    assert gauge.spent_today() == 200
    assert reader.reads == 2


def test_callers_that_find_the_reading_due_at_once_share_one_read() -> None:
    import threading
    import time

    from qgen.services.spend_gauge import SpendGauge

    class SlowReader:
        reads = 0

        def project_spend(self, day: str) -> int:
            self.reads += 1
            time.sleep(0.2)  # the aggregation query in flight while the others arrive
            return 7

    reader = SlowReader()
    gauge = SpendGauge(reader, lambda: NOW, max_age_seconds=10)  # type: ignore[arg-type]
    answers: list[int] = []
    callers = [
        threading.Thread(target=lambda: answers.append(gauge.spent_today())) for _ in range(8)
    ]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(5)
    assert answers == [7] * 8
    assert reader.reads == 1
