"""The four goals, each with what was measured against it and whether it was met."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.table import Table

from benchmarks.worker_streaming.figures import Traffic, ms_summary
from benchmarks.worker_streaming.model import (
    GOAL_DELAY_P50_MS,
    GOAL_JOB_WRITES_PER_S,
    GOAL_WALL_OVER_STREAM,
    GOAL_WRITE_RATIO,
    RunResult,
)


@dataclass(frozen=True)
class Goal:
    goal: str
    measured: str
    met: bool


def delay_goal(rows: list[RunResult]) -> Goal:
    """(a) over the worker's runs, pooled."""
    d = ms_summary([x for r in rows for x in r.delays.sent_to_listener])
    return Goal(
        f"(a) question visible p50 ≤ {GOAL_DELAY_P50_MS:.0f} ms",
        f"p50 {d['p50']:.0f} ms (p95 {d['p95']:.0f}, max {d['max']:.0f}; n={d['n']})",
        d["p50"] <= GOAL_DELAY_P50_MS,
    )


def overhead_goal(rows: list[RunResult]) -> Goal:
    """(b) the worker's worst run."""
    ratios = [r.wall_s / r.stream_s for r in rows]
    full_ratios = [r.wall_s / r.stream_full_s for r in rows if r.stream_full_s]
    return Goal(
        f"(b) wall / stream ≤ {GOAL_WALL_OVER_STREAM}",
        f"worst run {max(ratios):.3f} against the last item's sentAt; "
        f"{max(full_ratios):.3f} against the final event"
        if full_ratios
        else f"worst run {max(ratios):.3f}",
        max(ratios) <= GOAL_WALL_OVER_STREAM,
    )


def traffic_goal(worker: Traffic, original: Traffic, ratios: dict[str, float]) -> Goal:
    """(c) document writes, summed over runs."""
    w, o = worker, original
    return Goal(
        f"(c) document writes ≤ {GOAL_WRITE_RATIO}× the original pattern",
        f"{w.writes} vs {o.writes} = {ratios['writes']:.3f}× (commit RPCs {w.commits} vs "
        f"{o.commits} = {ratios['commits']:.3f}×)",
        ratios["writes"] <= GOAL_WRITE_RATIO,
    )


def job_document_goal(job_figures: list[dict[str, Any]]) -> Goal:
    """(d) the worker's worst run."""
    mean_rates = [j["mean_rate_streaming"] for j in job_figures]
    paced_rates = [j["paced_rate_streaming"] for j in job_figures]
    burst = max(j["max_1s_all"] for j in job_figures)
    burst_streaming = max(j["max_1s_streaming"] for j in job_figures)
    return Goal(
        f"(d) job document ≤ {GOAL_JOB_WRITES_PER_S:g} write/s sustained",
        f"while streaming, worst run: paced at {max(paced_rates):.2f}/s, at most "
        f"{burst_streaming} in any 1 s (writes / stream time {max(mean_rates):.2f}/s); over "
        f"the whole job, claim / plan / last batch / completion included: at most {burst} in "
        "any 1 s",
        max(paced_rates) <= GOAL_JOB_WRITES_PER_S and burst_streaming <= 1,
    )


def goals_table(goals: dict[str, Goal]) -> Table:
    table = Table(title="Goals (worker)", title_justify="left")
    for column in ("goal", "measured", "verdict"):
        table.add_column(column)
    for goal in goals.values():
        table.add_row(goal.goal, goal.measured, "[green]met[/]" if goal.met else "[red]not met[/]")
    return table
