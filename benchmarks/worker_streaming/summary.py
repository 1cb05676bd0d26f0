"""The report of a series of runs: every table in order, and the figures for --json-out."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from benchmarks.worker_streaming.figures import Traffic, ms_summary
from benchmarks.worker_streaming.goals import (
    delay_goal,
    goals_table,
    job_document_goal,
    overhead_goal,
    traffic_goal,
)
from benchmarks.worker_streaming.model import ORIGINAL, WORKER, RunResult
from benchmarks.worker_streaming.tables import (
    delay_table,
    job_table,
    runs_table,
    timeline_table,
    traffic_by_pattern,
    traffic_figures,
    traffic_table,
)

Results = dict[str, list[RunResult]]


def traffic_ratios(results: Results, traffic: dict[str, Traffic]) -> tuple[str, dict[str, float]]:
    """The per-saved-question line under the traffic table, and the worker/original ratios."""
    w, o = traffic[WORKER], traffic[ORIGINAL]
    write_ratio = w.writes / o.writes if o.writes else float("nan")
    commit_ratio = w.commits / o.commits if o.commits else float("nan")
    read_ratio = w.reads / o.reads if o.reads else float("nan")
    saved = sum(r.saved for r in results[WORKER])
    line = (
        f"Per saved question ({saved} saved by the worker, "
        f"{sum(r.saved for r in results[ORIGINAL])} by the original pattern): worker "
        f"{w.writes / max(1, saved):.2f} document writes, {w.commits / max(1, saved):.2f} commits, "
        f"{w.reads / max(1, saved):.2f} document reads; original "
        f"{o.writes / max(1, saved):.2f} / {o.commits / max(1, saved):.2f} / "
        f"{o.reads / max(1, saved):.2f}. Ratios worker/original: document writes "
        f"{write_ratio:.3f}, commit RPCs {commit_ratio:.3f}, document reads {read_ratio:.3f}."
    )
    return line, {"writes": write_ratio, "commits": commit_ratio, "reads": read_ratio}


def run_figures(results: Results) -> list[dict[str, Any]]:
    return [
        {
            "pattern": r.pattern,
            "run": r.run,
            "job_id": r.job_id,
            "saved": r.saved,
            "wall_s": r.wall_s,
            "stream_s": r.stream_s,
            "stream_full_s": r.stream_full_s,
            "job_duration_s": r.job_duration_s,
            "delay_ms": ms_summary(r.delays.sent_to_listener),
            "missing": r.missing,
        }
        for rows in results.values()
        for r in rows
    ]


def report(console: Console, results: Results, info: dict[str, str]) -> dict[str, Any]:
    """Print every table; the figures, for --json-out."""
    figures: dict[str, Any] = {"setup": info}
    console.print(runs_table(results))
    delays, figures["delay_ms"] = delay_table(results)
    console.print(delays)
    traffic = traffic_by_pattern(results)
    console.print(traffic_table(results, traffic))
    line, ratios = traffic_ratios(results, traffic)
    console.print(line)
    figures["traffic"] = traffic_figures(traffic)
    figures["ratios"] = ratios
    job_writes, job_figures = job_table(results)
    console.print(job_writes)
    figures["job_document"] = job_figures
    steps, figures["timeline_ms"] = timeline_table(results)
    console.print(steps)
    goals = {
        "a": delay_goal(results[WORKER]),
        "b": overhead_goal(results[WORKER]),
        "c": traffic_goal(traffic[WORKER], traffic[ORIGINAL], ratios),
        "d": job_document_goal(job_figures[WORKER]),
    }
    console.print(goals_table(goals))
    figures["goals"] = {key: goal.met for key, goal in goals.items()}
    figures["runs"] = run_figures(results)
    return figures
