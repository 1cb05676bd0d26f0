"""Printing a soak: how it was measured, its figures, and each invariant's verdict."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from benchmarks.environment import (
    firestore_emulator_version,
    load_average,
    tasks_emulator_version,
)
from benchmarks.report import setup_table
from benchmarks.soaking.invariants import SHOWN
from benchmarks.soaking.options import (
    LEASE_SECONDS,
    MAX_ATTEMPTS,
    MODEL_TIMEOUT_SECONDS,
    STALE_PENDING_SECONDS,
    SoakOptions,
)
from benchmarks.soaking.run import SoakResult


def setup(options: SoakOptions, machine: str) -> dict[str, str]:
    o = options
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["python -m benchmarks.soak", *sys.argv[1:]]),
        "machine": f"{machine} (at the start); load at the end {load_average()}",
        "emulators": f"Firestore {firestore_emulator_version()}, gcloud-tasks-emulator "
        f"{tasks_emulator_version()} (dispatch by benchmarks/soaking/queue_shim.py)",
        "load": f"{o.jobs} jobs over {o.minutes:g} min from {o.learners} learners "
        f"({o.shared_address_learners} behind one address), {o.questions[0]}–{o.questions[1]} "
        f"questions each; {o.cancel_rate:.0%} cancelled 0.05–2 s after creation; "
        f"{o.retry_rate:.0%} of failed retryable jobs retried by their owner",
        "chaos": f"{o.fault_rate:.0%} of model calls faulted at random (12 kinds); a worker "
        f"SIGKILLed every {o.kill_every_seconds:g} s ±25 % and restarted; a task body POSTed "
        f"straight to a worker every ~{o.duplicate_every_seconds:g} s; recovery sweep every "
        f"{o.sweep_every_seconds:g} s",
        "stack": f"api ×1, process_job ×{o.workers} behind a round-robin proxy, cleanup ×1; "
        f"LEASE_SECONDS {LEASE_SECONDS}, MAX_ATTEMPTS {MAX_ATTEMPTS} (queue: the same, backoff "
        f"{LEASE_SECONDS}–60 s), STALE_PENDING_SECONDS {STALE_PENDING_SECONDS}, model timeout "
        f"{MODEL_TIMEOUT_SECONDS} s; offline model pace {o.pace_ms} ms, TTFT "
        f"{o.first_chunk_ms} ms, seed {o.seed}",
        "end": f"chaos stops at the end of the drive, then up to {o.settle_seconds:g} s for "
        "every job to end (sweeps continue), then Firestore and the functions' logs are read",
        "measured": "latencies and throughput from Firestore's timestamps (job createdAt / "
        "completedAt, question create_time); CPU from /proc (user+system of each worker's "
        "process group, every incarnation)",
    }


def print_result(console: Console, options: SoakOptions, result: SoakResult) -> None:
    console.print(setup_table(setup(options, result.machine)))
    figures = Table(title="Figures", show_header=False, title_justify="left")
    figures.add_column("figure", style="bold")
    figures.add_column("value")
    for label, text in result.figures.rows.items():
        figures.add_row(escape(label), escape(text))
    console.print(figures)
    console.print(checks_table(result))
    for error in result.errors[:SHOWN]:
        console.print(f"[yellow]note[/]: {escape(error)}")
    console.print(f"Logs: {result.log_dir}")


def checks_table(result: SoakResult) -> Table:
    table = Table(title="Invariants", title_justify="left")
    table.add_column("invariant")
    table.add_column("result")
    table.add_column("detail")
    for check in result.checks:
        verdict = "[green]passed[/]" if check.passed else f"[red]{len(check.violations)} FAILED[/]"
        shown = [escape(v) for v in check.violations[:SHOWN]]
        more = len(check.violations) - len(shown)
        detail = "\n".join([escape(check.note), *shown] + ([f"… {more} more"] if more else []))
        table.add_row(escape(check.name), verdict, detail.strip())
    return table


def failures_text(result: SoakResult) -> str:
    """Every violated invariant with its findings, for an assertion message."""
    lines = []
    for check in result.checks:
        if not check.passed:
            lines.append(f"{check.name}: {len(check.violations)} violation(s)")
            lines += [f"  {v}" for v in check.violations[: SHOWN * 3]]
    return "\n".join(lines)
