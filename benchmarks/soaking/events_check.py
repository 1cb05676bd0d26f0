"""Exactly one terminal log event per end of a job.

A job ends each time it becomes completed, failed or cancelled; only a failed job can be
reopened (its owner's retry, logged as job.retried), so a job retried n times and now failed
has n + 1 job.failed events, and a completed or cancelled job has exactly one of its kind.
Every function logs the event just after its commit returns, so a process SIGKILLed between
sending the commit and writing the line loses the line while the job did end (the emulator may
even apply a commit that was in flight a moment after its sender died). Such an end is counted
apart, and only when the process that claimed the job's last attempt was killed within
KILL_WINDOW of the job's last commit (Firestore's update_time) — never when a line is repeated,
or missing for any other reason.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from benchmarks.soaking.verdict import Check
from benchmarks.soaking.world import Doc, World

TERMINAL_EVENTS = ("job.completed", "job.failed", "job.cancelled")
KILL_WINDOW = timedelta(seconds=5)


def terminal_events(world: World) -> Check:
    check = Check("exactly one terminal log event per end of a job")
    by_job: dict[str, list[dict[str, Any]]] = {}
    for entry in world.events:
        if entry.get("jobId"):
            by_job.setdefault(str(entry["jobId"]), []).append(entry)
    lost = 0
    for job in world.jobs.values():
        events = by_job.get(job.id, [])
        counts = Counter(str(e["event"]) for e in events)
        status, retried = job.data.get("status"), counts["job.retried"]
        expected = {
            "job.completed": int(status == "completed"),
            "job.cancelled": int(status == "cancelled"),
            "job.failed": retried + int(status == "failed"),
        }
        found = {name: counts[name] for name in TERMINAL_EVENTS}
        if found != expected and _lost_with_its_process(job, events, found, expected, world.kills):
            lost += 1
        elif found != expected or counts["job.created"] != 1:
            check.violations.append(
                f"{job.id} ({status}, {retried} owner retries): terminal events {found}, "
                f"expected {expected}; job.created ×{counts['job.created']}; "
                + _claims(job, events, world.kills)
            )
        if retried != world.retried.get(job.id, 0):
            check.violations.append(
                f"{job.id}: {retried} job.retried events, {world.retried.get(job.id, 0)} retries"
            )
    ends = sum(1 for e in world.events if e["event"] in TERMINAL_EVENTS)
    check.note = (
        f"{ends} terminal events for {len(world.jobs)} jobs; {lost} job end(s) whose line "
        "was lost with its SIGKILLed worker (killed within 5 s of the job's last commit)"
    )
    return check


def _lost_with_its_process(
    job: Doc,
    events: list[dict[str, Any]],
    found: dict[str, int],
    expected: dict[str, int],
    kills: dict[str, datetime],
) -> bool:
    """One event of the job's final status is missing (and nothing else differs), and the
    worker that claimed its last attempt was killed around the job's last commit."""
    final = f"job.{job.data.get('status')}"
    if final not in ("job.completed", "job.failed") or expected[final] - found[final] != 1:
        return False
    if {k: v for k, v in found.items() if k != final} != {
        k: v for k, v in expected.items() if k != final
    }:
        return False
    attempt = job.data.get("attempts")
    claims = [
        e.get("source", "")
        for e in events
        if e["event"] == "job.processing" and e.get("attempt") == attempt
    ]
    killed = [kills[source] for source in claims[-1:] if source in kills]
    return any(abs(job.update_time - at) <= KILL_WINDOW for at in killed)


def _claims(job: Doc, events: list[dict[str, Any]], kills: dict[str, datetime]) -> str:
    """Where the job's attempts ran, and when those processes were killed (a diagnosis)."""
    claims = [
        f"attempt {e.get('attempt')} in {e.get('source')}"
        + (f" (killed {kills[e['source']]:%H:%M:%S.%f})" if e.get("source") in kills else "")
        for e in events
        if e["event"] == "job.processing"
    ]
    return f"last commit {job.update_time:%H:%M:%S.%f}; " + ", ".join(claims)
