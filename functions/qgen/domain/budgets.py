"""Token budgets: each learner's per day, and the project's.

A job reserves an estimate of its tokens when it is admitted (or retried) and, when it ends,
gives the reservation back and records what it really used. Both moves are read off the job's
own fields (`budget_delta`), the way the active-job counter is read off its status, so the unit
of work applies them on every path that ends a job — a crash cannot leak a reservation without
leaving the job itself unfinished, and the recovery sweep finishes those. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from .errors import DomainError, ErrorCode
from .jobs import Job


def budget_day(now: datetime) -> str:
    """The UTC day a budget counts in, as YYYY-MM-DD."""
    return now.astimezone(UTC).date().isoformat()


def next_day(now: datetime) -> datetime:
    """The next midnight UTC, when every budget renews."""
    return datetime.combine(now.astimezone(UTC).date() + timedelta(days=1), time(), UTC)


def seconds_until_next_day(now: datetime) -> int:
    return max(1, int((next_day(now) - now).total_seconds() + 0.999))


@dataclass(frozen=True)
class LearnerBudget:
    """tokenBudgets for one learner and day: reservations of running jobs, tokens used."""

    reserved: int = 0
    spent: int = 0

    def remaining(self, limit: int) -> int:
        return max(0, limit - self.reserved - self.spent)


@dataclass(frozen=True)
class BudgetDelta:
    day: str
    reserved: int  # + when a job reserves, - when it gives its reservation back
    spent: int  # tokens the job's end records

    def __bool__(self) -> bool:
        return bool(self.reserved or self.spent)


def budget_delta(before: Job | None, after: Job) -> BudgetDelta | None:
    """How saving ``after`` over ``before`` moves the learner's budget (None: not at all)."""
    day = after.budget_day or (before.budget_day if before else None)
    if day is None:
        return None
    delta = BudgetDelta(
        day=day,
        reserved=after.reserved_tokens - (before.reserved_tokens if before else 0),
        spent=after.settled_tokens - (before.settled_tokens if before else 0),
    )
    return delta or None


def reserve(job: Job, *, tokens: int, now: datetime) -> Job:
    """The job holds ``tokens`` of today's budget until it ends."""
    return job.changed(reserved_tokens=tokens, budget_day=budget_day(now))


def settle(job: Job) -> Job:
    """The job has ended: its reservation goes back, what it used is recorded (once)."""
    used = job.usage.prompt_tokens + job.usage.output_tokens if job.usage else 0
    return job.changed(reserved_tokens=0, settled_tokens=used)


def check_budget(budget: LearnerBudget, *, tokens: int, limit: int, now: datetime) -> None:
    """Refuse a job whose reservation does not fit in what is left of today's budget."""
    if budget.reserved + budget.spent + tokens <= limit:
        return
    retry_after = seconds_until_next_day(now)
    raise DomainError(
        ErrorCode.BUDGET_EXCEEDED,
        "You have used today's question-generation allowance; it renews at midnight UTC "
        f"(in {retry_after // 3600} h {retry_after % 3600 // 60} min).",
        details={
            "dailyTokens": limit,
            "spent": budget.spent,
            "reserved": budget.reserved,
            "jobReservation": tokens,
        },
        retry_after_seconds=retry_after,
    )


def service_exhausted(spent_today: int, *, ceiling: int) -> bool:
    return spent_today >= ceiling


def check_ceiling(spent_today: int, *, ceiling: int, now: datetime) -> None:
    """Refuse new jobs once the whole project has spent its daily tokens."""
    if not service_exhausted(spent_today, ceiling=ceiling):
        return
    raise DomainError(
        ErrorCode.SERVICE_BUDGET_EXHAUSTED,
        "The service has used its question-generation budget for today; try again after "
        "midnight UTC.",
        retry_after_seconds=seconds_until_next_day(now),
    )
