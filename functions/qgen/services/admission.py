"""What admitting a job (a new one, or a learner's retry) checks, read in two steps.

The coarse limits are read before the transaction, outside its locks: the per-address window
(sharded, decisions §31) and the project's token spend. The learner's own limits are read in
the transaction, exactly: active jobs, the hourly window, the day's token budget.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ..config import Settings
from ..domain.budgets import budget_day, check_budget, check_ceiling
from ..domain.limits import (
    AdmissionState,
    RateScope,
    RateWindow,
    address_key,
    check_admission,
    window_for,
)
from .ports import JobReader, JobTransaction

Check = Callable[[JobTransaction], AdmissionState]


def rate_windows(
    settings: Settings, *, user_id: str, client_ip: str, now: datetime
) -> list[RateWindow]:
    s = settings
    limits = (
        (RateScope.USER, user_id, s.user_rate_limit, s.user_rate_window_seconds, 1),
        (
            RateScope.IP,
            address_key(client_ip),
            s.ip_rate_limit,
            s.ip_rate_window_seconds,
            s.ip_rate_window_shards,
        ),
    )
    return [
        window_for(scope, key, limit=limit, window_seconds=seconds, now=now, shards=shards)
        for scope, key, limit, seconds, shards in limits
    ]


def admission_check(
    settings: Settings,
    reader: JobReader,
    *,
    spent_today: int,
    user_id: str,
    client_ip: str,
    now: datetime,
) -> Check:
    """Checks the coarse limits now (the project's spend, as read by the caller, and the
    address's window); returns the check the transaction runs, which raises the refusal or
    returns the state whose windows the admission consumes."""
    s, day = settings, budget_day(now)
    check_ceiling(spent_today, ceiling=s.project_daily_token_ceiling, now=now)
    windows = rate_windows(settings, user_id=user_id, client_ip=client_ip, now=now)
    coarse = {w: reader.window_count(w) for w in windows if w.shards > 1}
    exact = [w for w in windows if w.shards == 1]

    def check(tx: JobTransaction) -> AdmissionState:
        state = tx.read_quota(user_id, exact, day).including(coarse)
        check_admission(state, max_active=s.max_concurrent_per_user, now=now)
        check_budget(
            state.budget, tokens=s.job_token_reservation, limit=s.daily_token_budget, now=now
        )
        return state

    return check
