"""The report of a series of runs: every table in order, and the figures for --json-out."""

from __future__ import annotations

import os
from typing import Any

from rich.console import Console

from benchmarks.worker_streaming.diagnostics import cpu_table, latency_table
from benchmarks.worker_streaming.goals import all_goals, goals_table
from benchmarks.worker_streaming.model import Config, RunResult
from benchmarks.worker_streaming.tables import (
    delay_table,
    job_table,
    runs_table,
    timeline_table,
    traffic_table,
)


def report(
    console: Console, results: list[RunResult], info: dict[str, str], configs: tuple[Config, ...]
) -> dict[str, Any]:
    """Print every table, the goals last; the figures, for --json-out."""
    figures: dict[str, Any] = {"setup": info}
    console.print(runs_table(results))
    delays, figures["visible_ms"] = delay_table(results, configs)
    console.print(delays)
    traffic, figures["traffic"] = traffic_table(results, configs)
    console.print(traffic)
    job_writes, figures["job_document"] = job_table(results)
    console.print(job_writes)
    steps, figures["timeline_ms"] = timeline_table(results)
    console.print(steps)
    latency, figures["firestore_latency_ms"] = latency_table(results, configs)
    console.print(latency)
    cpu, figures["cpu_s"] = cpu_table(results, os.cpu_count() or 1)
    console.print(cpu)
    goals = all_goals(results, configs)
    console.print(goals_table(goals))
    figures["goals"] = {
        g.key: {"goal": g.goal, "worker": g.measured, "met": g.met, "original": g.baseline}
        for g in goals
    }
    figures["runs"] = [r.summary() for r in results]
    return figures
