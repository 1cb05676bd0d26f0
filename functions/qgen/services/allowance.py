"""What a learner may still do: active jobs, this hour's jobs, today's tokens (GET /limits)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from ..config import Settings
from ..domain.budgets import budget_day, next_day
from .admission import rate_windows
from .ports import JobReader


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Count(_Camel):
    used: int
    limit: int


class WindowCount(Count):
    resets_at: datetime


class TokenBudget(_Camel):
    limit: int
    spent: int
    reserved: int = Field(description="Held by the learner's running jobs until they end.")
    remaining: int
    # About how many more jobs today's remaining tokens admit (each reserves an estimate).
    jobs_remaining: int
    resets_at: datetime


class Allowance(_Camel):
    model_config = ConfigDict(title="Limits")

    active_jobs: Count
    hourly_jobs: WindowCount
    daily_tokens: TokenBudget


def allowance(settings: Settings, reader: JobReader, *, user_id: str, now: datetime) -> Allowance:
    s = settings
    # The address's window is a shared, coarse limit: not the learner's to see.
    (hour, _) = rate_windows(s, user_id=user_id, client_ip="", now=now)
    budget = reader.budget(user_id, budget_day(now))
    remaining = budget.remaining(s.daily_token_budget)
    return Allowance(
        active_jobs=Count(used=reader.active_jobs(user_id), limit=s.max_concurrent_per_user),
        hourly_jobs=WindowCount(
            used=reader.window_count(hour), limit=hour.limit, resets_at=hour.end
        ),
        daily_tokens=TokenBudget(
            limit=s.daily_token_budget,
            spent=budget.spent,
            reserved=budget.reserved,
            remaining=remaining,
            jobs_remaining=remaining // s.job_token_reservation,
            resets_at=next_day(now),
        ),
    )
