"""A job's end -> its notification handed to FCM, on a private local stack (issue 12's 2 s goal).

    .venv/bin/python -m benchmarks.notification_latency [--jobs 20] [--concurrency 1]

Starts a private stack on free ports whose functions have notifications on and reach "FCM"
through the local stand-in of tests/support/fake_fcm.py (a CONNECT proxy that is
fcm.googleapis.com, with a throwaway CA, and the token endpoint of the service account the
functions use as their credentials): firebase-admin runs unpatched, as in production. A learner
registers two devices through the api, then creates the jobs; for each, the latency is the
job's ``completedAt`` (Firestore) to the stand-in's receipt of the message for the last of
the two devices. Also checks exactly once: every job's devices got one message each, after a
settling wait, and the outbox is empty. Not a timed test: it reports.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import typer
from google.cloud import firestore
from rich.console import Console
from rich.table import Table

from benchmarks.environment import machine_line
from benchmarks.notifying.measure import SETTLE_SECONDS, JobTiming, Learner, run
from benchmarks.notifying.stack import PROJECT, notifying_stack
from benchmarks.report import percentile, setup_table
from dev.stack import firestore_emulator_host
from tests.support.fake_fcm import FakeFcm

GOAL_SECONDS = 2.0
LEARNER = Learner("notified-learner", ("bench-phone-" + "p" * 40, "bench-laptop-" + "l" * 40))


def _row(values: list[float], goal: float | None) -> list[str]:
    ms = sorted(v * 1000 for v in values)
    cells = [f"{values[0] * 1000:.0f}", *(f"{percentile(ms, q):.0f}" for q in (50, 95, 100))]
    within = sum(1 for v in ms if v <= goal * 1000) if goal is not None else None
    return [*cells, "" if within is None else f"{within}/{len(ms)}"]


def _figures(timings: list[JobTiming]) -> Table:
    table = Table(title=f"{len(timings)} jobs, ms", title_justify="left")
    table.add_column("interval")
    for column in ("first (cold)", "p50", "p95", "max", f"≤ {GOAL_SECONDS:g} s"):
        table.add_column(column, justify="right")
    rows = {
        "job end (completedAt) -> handed to FCM": ([t.latency for t in timings], GOAL_SECONDS),
        "  of which completedAt -> commit": (
            [t.committed_at - t.completed_at for t in timings],
            None,
        ),
        "  of which commit -> handed to FCM": (
            [t.handed_over - t.committed_at for t in timings],
            None,
        ),
    }
    for name, (values, goal) in rows.items():
        table.add_row(name, *_row(values, goal))
    return table


def _exactly_once(timings: list[JobTiming], outbox_left: int) -> str:
    per_device = Counter(len(times) for t in timings for times in t.received.values())
    statuses = Counter(t.status for t in timings)
    counts = ", ".join(f"{n} message(s): {k} job-devices" for n, k in sorted(per_device.items()))
    ok = set(per_device) == {1} and outbox_left == 0
    verdict = "exactly once" if ok else "NOT exactly once"
    return f"{verdict}: {counts}; jobs {dict(statuses)}; outbox documents left: {outbox_left}"


def _measure(
    console: Console, *, jobs: int, concurrency: int, pace_ms: int
) -> tuple[list[JobTiming], int, int]:
    """The timings, the outbox documents left, and the OAuth2 grants the functions asked for."""
    with (
        tempfile.TemporaryDirectory(prefix="qgen-notify-") as workdir,
        FakeFcm(Path(workdir), project_id=PROJECT) as fcm,
        notifying_stack(fcm, Path(workdir), console, model_pace_ms=pace_ms) as config,
        firestore_emulator_host(config.firestore_address),
    ):
        console.print(f"Stack up: api {config.api_url}, logs in {config.log_dir}")
        db = firestore.Client(project=PROJECT)
        timings, left = run(
            config.api_url, db, fcm, LEARNER, project=PROJECT, jobs=jobs, concurrency=concurrency
        )
        return timings, left, fcm.log.count("POST /token")


def main(
    jobs: int = typer.Option(20, min=1, help="Jobs to create."),
    concurrency: int = typer.Option(1, min=1, help="Jobs in flight at once."),
    pace_ms: int = typer.Option(2, min=0, help="The offline model's delay between chunks."),
) -> None:
    console = Console()
    info = {
        "machine": machine_line(),
        "command": f"benchmarks.notification_latency --jobs {jobs} --concurrency {concurrency}",
        "method": (
            "private stack (api, worker, cleanup as functions-framework processes, Firestore "
            "and Cloud Tasks emulators, offline model at --pace-ms "
            f"{pace_ms}); firebase-admin unpatched, through a local FCM stand-in (CONNECT "
            "proxy + test CA + token endpoint); 1 learner, 2 devices; latency = the job's "
            "completedAt -> the stand-in's receipt of the later of its 2 messages; "
            f"counts re-read {SETTLE_SECONDS:g} s after the last job"
        ),
    }
    timings, left, grants = _measure(console, jobs=jobs, concurrency=concurrency, pace_ms=pace_ms)
    console.print(setup_table(info))
    console.print(_figures(timings))
    console.print(_exactly_once(timings, left))
    console.print(f"OAuth2 access-token grants asked of the stand-in: {grants}")


if __name__ == "__main__":
    typer.run(main)
