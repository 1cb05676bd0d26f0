"""The CI-sized soak: a minute of load and chaos on the whole stack, then every invariant.

The same soak as `make soak` (benchmarks/soak.py), sized for CI: about 30 jobs from 8 learners
over 60 s, the model failing 10 % of calls, a worker SIGKILLed every ~18 s, duplicate
deliveries, cancels and owner retries; it reuses the session's Firestore emulator under a
project of its own. Then the checks of benchmarks/soaking/invariants.py, which the first test
shows do fail on a world that breaks each promise.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rich.console import Console

from benchmarks.soaking.invariants import check_all
from benchmarks.soaking.options import CI_OPTIONS
from benchmarks.soaking.report import failures_text, print_result
from benchmarks.soaking.run import run_soak
from benchmarks.soaking.world import Doc, World

pytestmark = pytest.mark.e2e

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _doc(doc_id: str, data: dict[str, Any], updated: datetime = T0) -> Doc:
    return Doc(doc_id, data, T0, updated)


def _job(job_id: str, status: str, saved: int, **fields: Any) -> Doc:
    data = {
        "userId": "u1",
        "status": status,
        "questionsSaved": saved,
        "questionIds": [f"{job_id}-q{i:03d}" for i in range(saved)],
        "estimatedTotal": saved,
        "budgetDay": "2026-11-30",
        "createdAt": T0,
        **fields,
    }
    return _doc(job_id, data)


def _questions(job_id: str, n: int, updated: datetime = T0) -> dict[str, Doc]:
    return {
        f"{job_id}-q{i:03d}": _doc(
            f"{job_id}-q{i:03d}",
            {"generationJobId": job_id, "userId": "u1", "question": f"{job_id} {i}?"},
            updated,
        )
        for i in range(n)
    }


def _ends(*pairs: tuple[str, str]) -> list[dict[str, Any]]:
    created = {job_id for job_id, _ in pairs}
    return [{"jobId": j, "event": "job.created"} for j in sorted(created)] + [
        {"jobId": job_id, "event": event} for job_id, event in pairs
    ]


def _healthy() -> World:
    return World(
        jobs={"A": _job("A", "completed", 3), "B": _job("B", "cancelled", 1)},
        questions={**_questions("A", 3), **_questions("B", 1, T0 - timedelta(seconds=1))},
        counters={"u1": 0},
        budgets={"u1-2026-11-30": {"reserved": 0, "spent": 0}},
        events=_ends(("A", "job.completed"), ("B", "job.cancelled")),
        cancel_commits={"B": T0},
        read_at=T0 + timedelta(minutes=5),
    )


def test_the_checks_pass_a_sound_world_and_fail_each_broken_promise() -> None:
    assert [c.violations for c in check_all(_healthy(), stale_pending_seconds=60)] == [[]] * 7

    # A completion whose log line died with its SIGKILLed worker is told apart; not so a line
    # missing without a kill around the job's last commit.
    lost = _healthy()
    lost.jobs["C"] = _job("C", "completed", 0, attempts=1)
    lost.events += [{**e, "source": "worker0-01"} for e in _ends(("C", "job.processing"))]
    lost.events[-1]["attempt"] = 1
    lost.kills = {"worker0-01": T0 + timedelta(seconds=2)}
    assert check_all(lost, stale_pending_seconds=60)[-1].passed
    lost.kills = {"worker0-01": T0 + timedelta(seconds=30)}
    assert not check_all(lost, stale_pending_seconds=60)[-1].passed

    broken = _healthy()
    broken.jobs["A"] = _job("A", "completed", 3, estimatedTotal=4)  # short of its plan
    broken.questions.update(_questions("B", 1, T0 + timedelta(seconds=1)))  # after the cancel
    broken.questions.update(_questions("gone", 1))  # a question without its job
    broken.counters["u1"] = 2  # one active job (D)
    broken.budgets["u1-2026-11-30"]["reserved"] = 4000  # a reservation nobody holds
    broken.events.append({"jobId": "A", "event": "job.completed"})  # two ends logged
    stuck = T0 - timedelta(minutes=1)
    broken.jobs["D"] = _job("D", "processing", 0, leaseExpiresAt=stuck)
    broken.events += _ends(("D", "job.processing"))
    checks = check_all(broken, stale_pending_seconds=60)
    assert [c.name for c in checks if c.passed] == []


def test_a_minute_of_chaos_loses_nothing(emulator_address: str) -> None:
    console = Console(width=120, force_terminal=False)
    result = run_soak(
        CI_OPTIONS, console, project_id="demo-qgen-soak-ci", firestore_host=emulator_address
    )
    print_result(console, CI_OPTIONS, result)
    assert result.passed, failures_text(result)
    assert result.world is not None
    assert len(result.world.jobs) >= CI_OPTIONS.jobs * 0.9, "the learners could not create jobs"
    assert result.figures.numbers["worker kills (SIGKILL, then restart)"] >= 2
