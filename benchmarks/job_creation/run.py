"""One run against a target stack: warm-up, setup table, load, figures, checks, verdict."""

from __future__ import annotations

import json
import os
import platform
import secrets
import shlex
import sys
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from benchmarks.environment import (
    cpu_model,
    firestore_emulator_version,
    java_version,
    load_average,
    tasks_emulator_version,
)
from benchmarks.job_creation.firestore_state import read_windows
from benchmarks.job_creation.load import LoadRunner, headers_for, make_users
from benchmarks.job_creation.model import (
    EXIT_CHECK_FAILED,
    EXIT_OK,
    Baseline,
    Check,
    Limits,
    Outcome,
    Plan,
    SimUser,
    Target,
)
from benchmarks.job_creation.private_stack import lock_timeouts
from benchmarks.job_creation.tables import (
    answers_table,
    checks_table,
    figures,
    histogram_table,
    latency_table,
    throughput_table,
)
from benchmarks.job_creation.verify import verify
from benchmarks.report import setup_table


@dataclass(frozen=True)
class Measured:
    outcomes: list[Outcome]
    wall: float
    load_after: str
    figures: dict[str, Any]
    latency_buckets: dict[str, int]
    # Transaction lock timeouts the emulator logged during the load (private stack only).
    lock_timeouts: int | None


def warm_up(target: Target, user: SimUser) -> None:
    # The first request builds the Firestore, Cloud Tasks and firebase-admin clients inside
    # the api process; that one-off cost is not what this benchmark measures.
    with httpx.Client(base_url=target.api_url, trust_env=False, timeout=60) as client:
        client.get("/healthz").raise_for_status()
        response = client.post(
            "/jobs", json={"prompt": "Benchmark warm-up prompt"}, headers=headers_for(user)
        )
        if response.status_code != 202:
            raise RuntimeError(
                f"warm-up POST /jobs answered {response.status_code}: {response.text}"
            )


def setup_info(target: Target, limits: Limits, plan: Plan, baseline: Baseline) -> dict[str, str]:
    own = target.own_stack
    ports = ", ".join(f"{k} :{v}" for k, v in target.ports.items())
    return {
        "date (UTC)": baseline.started_at.strftime("%Y-%m-%d %H:%M"),
        "command": "python -m benchmarks.create_jobs " + shlex.join(sys.argv[1:]),
        "machine": f"{os.cpu_count()} CPUs ({cpu_model()}), {platform.system()} "
        f"{platform.release()}, load avg before {baseline.load}",
        "python": platform.python_version(),
        "code": baseline.code + ("" if own else " (this checkout; the running stack may differ)"),
        "stack": (
            f"private, started by this run: project {target.project_id}, {ports}"
            if own
            else f"existing: {target.api_url}, project {target.project_id}, "
            f"firestore {target.firestore}"
        ),
        "emulators": f"Firestore emulator {firestore_emulator_version()} (Java {java_version()}), "
        f"gcloud-tasks-emulator {tasks_emulator_version()}",
        "api server": (
            f"functions-framework/gunicorn, {target.api_workers} worker process(es) × "
            f"{target.api_threads} threads; the per-user admission lock, if any, is per process"
            if target.api_threads
            else "as configured by that stack"
        ),
        "limits": f"{limits.max_active} active jobs/user, {limits.user_rate}/window/user, "
        f"{limits.ip_rate}/window/IP (window 1 h unless the stack says otherwise)",
        "load": f"{plan.users} users × {plan.requests_per_user} requests, own IP each"
        + (f"; + {plan.shared_ip_users} users sharing one IP" if plan.shared_ip_users else "")
        + f"; {plan.requests} requests in total",
        "client": f"{plan.concurrency} threads, one httpx client each, requests queued user by "
        f"user (a user's requests race each other); per-request timeout "
        f"{plan.request_timeout:.0f} s, whole run {plan.timeout:.0f} s",
        "warm-up": "1 GET /healthz + 1 POST /jobs by a separate user, not counted",
    }


def measure(
    console: Console, target: Target, users: list[SimUser], plan: Plan, deadline: float
) -> Measured:
    """Sends the load, prints its figures, and keeps them for the JSON report."""
    timeouts_before = lock_timeouts(target.firestore_log)
    runner = LoadRunner(target.api_url, plan.concurrency, plan.request_timeout)
    try:
        outcomes, wall = runner.run(users, plan.requests_per_user, deadline)
    finally:
        runner.close()
    load_after = load_average()
    latency, stats = latency_table(outcomes)
    histogram, buckets = histogram_table(outcomes)
    for table in (throughput_table(outcomes, wall), latency, histogram, answers_table(outcomes)):
        console.print(table)
    timeouts_after = lock_timeouts(target.firestore_log)
    during = None
    if timeouts_before is not None and timeouts_after is not None:
        during = timeouts_after - timeouts_before
        console.print(
            f"Firestore emulator transaction lock timeouts during the load: {during} "
            "(each is a transaction attempt that waited for the emulator's lock timeout and "
            "was aborted, then retried by the client or answered 503 CONTENTION)."
        )
    return Measured(outcomes, wall, load_after, figures(outcomes, wall, stats), buckets, during)


def report_short_users(
    console: Console, users: list[SimUser], measured: Measured, plan: Plan, limits: Limits
) -> int:
    """How many users with an address of their own got fewer admissions than they could."""
    admitted_per_user = Counter(o.user for o in measured.outcomes if o.admitted)
    expected_each = min(plan.requests_per_user, limits.max_active)
    short = [u for u in users if not u.shared_ip and admitted_per_user[u.index] < expected_each]
    console.print(
        f"Load average after: {measured.load_after}. Users (own IP) admitted fewer than "
        f"{expected_each} jobs: {len(short)} of {plan.users}"
        + (" (lost to 503s or missing responses, not to the limits)" if short else "")
        + "."
    )
    return len(short)


def verdict(console: Console, checks: list[Check]) -> int:
    failed = [c for c in checks if not c.ok]
    if failed:
        console.print(
            f"[red bold]FAILED: {len(failed)} check(s) failed: "
            + "; ".join(c.name for c in failed)
            + "[/]"
        )
        return EXIT_CHECK_FAILED
    console.print("[green bold]All checks passed: no over-admission, no lost admissions.[/]")
    return EXIT_OK


def write_json(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str))


def run(
    console: Console,
    target: Target,
    limits: Limits,
    plan: Plan,
    baseline: Baseline,
    json_out: Path | None,
) -> int:
    """The exit status: EXIT_OK when every check passed, EXIT_CHECK_FAILED otherwise."""
    os.environ["FIRESTORE_EMULATOR_HOST"] = target.firestore
    from google.cloud import firestore

    db = firestore.Client(project=target.project_id)
    run_id, salt = secrets.token_hex(4), secrets.randbelow(256)
    lifetime = int(plan.timeout) + 3600
    users = make_users(run_id, target.project_id, plan.users, plan.shared_ip_users, salt, lifetime)
    warm_up(target, make_users(f"{run_id}w", target.project_id, 1, 0, (salt + 128) % 256)[0])
    windows_before = read_windows(db)
    info = setup_info(target, limits, plan, baseline)
    console.print(setup_table(info))
    console.print(f"Sending {plan.requests} requests …")
    measured = measure(console, target, users, plan, baseline.deadline)
    short = report_short_users(console, users, measured, plan, limits)
    checks, facts = verify(db, users, measured.outcomes, limits, f"bench-{run_id}-", windows_before)
    console.print(checks_table(checks))
    if json_out:
        write_json(
            json_out,
            {
                "setup": info,
                "load_average_after": measured.load_after,
                "latency_buckets": measured.latency_buckets,
                "emulator_lock_timeouts": measured.lock_timeouts,
                "figures": measured.figures,
                "users_below_expected_admissions": short,
                "firestore": facts,
                "checks": [asdict(c) for c in checks],
            },
        )
    return verdict(console, checks)
