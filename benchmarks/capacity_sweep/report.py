"""The report: a table of jobs per K, the sweep by K, the goals at K = 10, the saturation point
and the CPU each process spent; also the figures as JSON."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.capacity_sweep.plan import (
    GOAL_JOBS,
    GOAL_VISIBLE_P50_MS,
    GOAL_WALL_OVER_STREAM,
    SATURATION_FACTOR,
    Saturation,
    Step,
    saturation,
)
from benchmarks.worker_streaming.tables import fmt

VERDICT = {True: "[green]MET[/]", False: "[red bold]NOT MET[/]"}


def jobs_table(step: Step) -> Table:
    table = Table(title=f"K = {step.jobs_at_once}: each job", title_justify="left")
    for column in ("job", "outcome", "saved", "p50 ms", "p95 ms", "max ms", "wall s"):
        table.add_column(column, justify="right")
    table.add_column("stream s", justify="right")
    table.add_column("wall / stream", justify="right")
    for n, job in enumerate(step.jobs, 1):
        table.add_row(
            str(n),
            job.outcome + (f", {job.missing} unseen" if job.missing else ""),
            str(job.saved),
            fmt(job.ms(50)),
            fmt(job.ms(95)),
            fmt(job.ms(100)),
            fmt(job.wall_s, 2),
            fmt(job.stream_s, 2),
            fmt(job.ratio, 3),
        )
    return table


def cpu_share(step: Step, name: str) -> str:
    """CPU seconds of one process while the step's jobs ran, and as % of one core."""
    seconds = step.cpu.get(name, math.nan)
    return f"{seconds:.1f} s ({100 * seconds / step.seconds:.0f} %)"


def sweep_table(steps: list[Step], cores: int) -> Table:
    table = Table(title="By jobs at once (K)", title_justify="left")
    for column in ("K", "jobs", "p50 ms", "p95 ms", "max ms", "worst job p50"):
        table.add_column(column, justify="right")
    for column in (
        "wall/stream p50 / worst",
        "worker CPU (% of a core)",
        "emulator CPU",
        "bench CPU",
    ):
        table.add_column(column, justify="right")
    table.add_column("machine busy", justify="right")
    for step in steps:
        ratios = sorted(job.ratio for job in step.jobs)
        busy = step.cpu.get("machine", math.nan) / (step.seconds * cores)
        table.add_row(
            str(step.jobs_at_once),
            str(len(step.jobs)),
            fmt(step.pooled_ms(50)),
            fmt(step.pooled_ms(95)),
            fmt(step.pooled_ms(100)),
            fmt(max(job.ms(50) for job in step.jobs)),
            f"{fmt(ratios[len(ratios) // 2], 3)} / {fmt(ratios[-1], 3)}",
            cpu_share(step, "worker"),
            cpu_share(step, "firestore"),
            cpu_share(step, "bench"),
            f"{100 * busy:.0f} %",
        )
    return table


def goal_lines(steps: list[Step]) -> list[str]:
    """The goals at K = GOAL_JOBS, with their figures; never loosened."""
    step = next((s for s in steps if s.jobs_at_once == GOAL_JOBS), None)
    if step is None:
        return [f"K = {GOAL_JOBS} was not measured: no verdict."]
    p50s = [job.ms(50) for job in step.jobs]
    ratios = [job.ratio for job in step.jobs]
    p50_met = all(p <= GOAL_VISIBLE_P50_MS for p in p50s)
    ratio_met = all(r <= GOAL_WALL_OVER_STREAM for r in ratios)
    return [
        f"K = {GOAL_JOBS}, each job's model-finished → listener p50 ≤ {GOAL_VISIBLE_P50_MS:.0f} "
        f"ms: {VERDICT[p50_met]} — worst job {max(p50s):.0f} ms (jobs {min(p50s):.0f}–"
        f"{max(p50s):.0f} ms; pooled p50 {step.pooled_ms(50):.0f}, p95 "
        f"{step.pooled_ms(95):.0f} ms; {sum(p <= GOAL_VISIBLE_P50_MS for p in p50s)} of "
        f"{len(p50s)} jobs within)",
        f"K = {GOAL_JOBS}, each job's wall / stream ≤ {GOAL_WALL_OVER_STREAM}: "
        f"{VERDICT[ratio_met]} — worst job {max(ratios):.3f} (jobs {min(ratios):.3f}–"
        f"{max(ratios):.3f})",
    ]


def saturation_line(steps: list[Step], why_stopped: str) -> tuple[Saturation, str]:
    measured = [(s.jobs_at_once, s.pooled_ms(95)) for s in steps if not s.failed]
    sat = saturation(measured)
    where = (
        f"p95 reached {SATURATION_FACTOR:g}x at K = {sat.doubled_at}; the last K below it: "
        f"{sat.last_below}"
        if sat.doubled_at is not None
        else f"p95 had not doubled at K = {sat.last_below}, the largest K measured"
    )
    line = (
        f"Saturation (pooled p95 ≥ {SATURATION_FACTOR:g} x its {sat.baseline_p95_ms:.0f} ms "
        f"at K = 1): {where}. Sweep stopped: {why_stopped}."
    )
    return sat, line


def figures(steps: list[Step], sat: Saturation, why_stopped: str) -> dict[str, Any]:
    return {
        "steps": [
            {
                "jobs_at_once": s.jobs_at_once,
                "seconds": s.seconds,
                "cpu_s": s.cpu,
                "pooled_ms": {q: s.pooled_ms(q) for q in (50, 95, 100)},
                "jobs": [
                    {**vars(j), "wall_s": j.wall_s, "stream_s": j.stream_s, "ratio": j.ratio}
                    for j in s.jobs
                ],
            }
            for s in steps
        ],
        "saturation": vars(sat),
        "stopped": why_stopped,
    }


def report(console: Console, steps: list[Step], why_stopped: str, cores: int) -> dict[str, Any]:
    for step in steps:
        console.print(jobs_table(step))
    console.print(sweep_table(steps, cores))
    console.print(
        "worker CPU: the process group of functions-framework (its arbiter and the gunicorn "
        "worker serving the deliveries), from /proc/<pid>/stat, while the step's jobs ran; "
        "% of one core over that time. Bench CPU: this process (job creation, the deliveries' "
        "threads, the K Listen streams). Machine busy: /proc/stat, all cores, everyone's work."
    )
    console.print("[bold]Goals (issue 13, part 3)[/]")
    for line in goal_lines(steps):
        console.print("  " + line)
    sat, line = saturation_line(steps, why_stopped)
    console.print("[bold]" + line + "[/]")
    return figures(steps, sat, why_stopped)
