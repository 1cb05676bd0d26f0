"""Issue 9's goals: each with the worker's figure, its verdict, and the original pattern's
figure measured the same way in the same run (the baseline; no verdict)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.table import Table

from benchmarks.report import percentile
from benchmarks.worker_streaming.figures import (
    job_write_figures,
    ms_summary,
    write_budget,
    writes_by_collection,
)
from benchmarks.worker_streaming.model import (
    GOAL_FIRST_MARGIN_MS,
    GOAL_JOB_WRITES_PER_S,
    GOAL_OVERHEAD_P50_MS,
    GOAL_VISIBLE_P50_MS,
    GOAL_VISIBLE_P95_MS,
    GOAL_WALL_OVER_STREAM,
    GOAL_WRITES_EXTRA,
    ORIGINAL,
    WORKER,
    Config,
    RunResult,
    pick,
)

# A figure of some runs: (text, whether it meets the goal).
Figure = Callable[[list[RunResult]], tuple[str, bool]]


@dataclass(frozen=True)
class Goal:
    key: str
    goal: str
    measured: str  # the worker's figure
    met: bool
    baseline: str  # the original pattern's figure


def visible_figure(rows: list[RunResult]) -> tuple[str, bool]:
    d = ms_summary([x for r in rows for x in r.delays.sent_to_listener])
    text = f"p50 {d['p50']:.0f} ms, p95 {d['p95']:.0f} ms (max {d['max']:.0f}; n={d['n']})"
    return text, d["p50"] <= GOAL_VISIBLE_P50_MS and d["p95"] <= GOAL_VISIBLE_P95_MS


def overhead_figure(rows: list[RunResult]) -> tuple[str, bool]:
    values = sorted(r.overhead_s * 1000 for r in rows)
    p50 = percentile(values, 50)
    # The same against the final event (one pace after the last question), when the pattern
    # read it: shown, the verdict stays on the first. The worker closes the stream at its
    # planned count, before any final event.
    full = sorted((r.wall_s - r.stream_full_s) * 1000 for r in rows if r.stream_full_s)
    runs = ", ".join(f"{v:.0f}" for v in values)
    text = f"p50 {p50:.0f} ms (runs {runs})"
    text += (
        f"; to the final event p50 {percentile(full, 50):.0f}"
        if full
        else ("; stream closed at the planned count (no final event read)")
    )
    return text, p50 <= GOAL_OVERHEAD_P50_MS


def ratio_figure(rows: list[RunResult]) -> tuple[str, bool]:
    ratios = [r.wall_s / r.stream_s for r in rows]
    full = [r.wall_s / r.stream_full_s for r in rows if r.stream_full_s]
    text = f"worst run {max(ratios):.3f} (stream to the last item's sentAt)"
    if full:
        text += f"; {max(full):.3f} to the final event"
    return text, max(ratios) <= GOAL_WALL_OVER_STREAM


def first_figure(rows: list[RunResult]) -> tuple[str, bool]:
    margins = sorted(
        (r.first_visible_s - r.model_first_s) * 1000 for r in rows if r.first_visible_s is not None
    )
    if len(margins) < len(rows):
        return "a run's listener saw no question", False
    first = sorted(r.first_visible_s or 0.0 for r in rows)
    model = sorted(r.model_first_s for r in rows)
    text = (
        f"created → first visible p50 {percentile(first, 50) * 1000:.0f} ms; model's first "
        f"question p50 {percentile(model, 50) * 1000:.0f} ms; margin p50 "
        f"{percentile(margins, 50):.0f} ms, worst {margins[-1]:.0f} ms"
    )
    return text, margins[-1] <= GOAL_FIRST_MARGIN_MS


def writes_figure(rows: list[RunResult]) -> tuple[str, bool]:
    budgets = [write_budget(r) for r in rows]
    slack = min(bound - writes for writes, bound in budgets)
    runs = ", ".join(f"{w} of {b}" for w, b in budgets)
    kinds = writes_by_collection(rows[0])
    first = ", ".join(f"{name} {n}" for name, n in kinds.most_common())
    text = f"per run: {runs} allowed (least slack {slack:+d}); run 1 by collection: {first}"
    return text, slack >= 0


def job_rate_figure(rows: list[RunResult]) -> tuple[str, bool]:
    jobs = [job_write_figures(r) for r in rows]
    # A run with fewer than 2 writes while streaming has no paced rate (NaN): left out.
    paced = max(
        (j["paced_rate_streaming"] for j in jobs if j["paced_rate_streaming"] >= 0), default=0.0
    )
    burst = max(j["max_1s_streaming"] for j in jobs)
    text = f"paced at ≤ {paced:.2f}/s, at most {burst} in any 1 s while streaming"
    return text, paced <= GOAL_JOB_WRITES_PER_S and burst <= GOAL_JOB_WRITES_PER_S


def goal(key: str, text: str, figure: Figure, results: list[RunResult], config: str | None) -> Goal:
    """``figure`` of the worker's runs (verdict) and of the original pattern's (baseline)."""
    measured, met = figure(pick(results, config, WORKER))
    baseline, _ = figure(pick(results, config, ORIGINAL))
    return Goal(key, text, measured, met, baseline)


def all_goals(results: list[RunResult], configs: tuple[Config, ...]) -> list[Goal]:
    default, fast, ttft = configs
    v50, v95 = GOAL_VISIBLE_P50_MS, GOAL_VISIBLE_P95_MS
    visible = f"question visible p50 ≤ {v50:.0f} ms, p95 ≤ {v95:.0f} ms"
    goals = [
        goal("1 default", f"1. {visible}; {default.label}", visible_figure, results, default.key),
        goal("1 fast", f"1. {visible}; {fast.label}", visible_figure, results, fast.key),
    ]
    for c in configs:
        text = f"2. overhead (wall − stream) p50 ≤ {GOAL_OVERHEAD_P50_MS:.0f} ms; {c.label}"
        goals.append(goal(f"2 overhead {c.key}", text, overhead_figure, results, c.key))
    text = f"2. wall / stream ≤ {GOAL_WALL_OVER_STREAM}; {default.label}"
    goals.append(goal("2 ratio", text, ratio_figure, results, default.key))
    text = f"3. created → first visible ≤ model's first question + {GOAL_FIRST_MARGIN_MS:.0f} ms"
    goals.append(goal("3", f"{text}; {ttft.label}", first_figure, results, ttft.key))
    for c in configs:
        text = f"4. billed writes per job ≤ N + ⌈stream s⌉ + {GOAL_WRITES_EXTRA}; {c.label}"
        goals.append(goal(f"4 writes {c.key}", text, writes_figure, results, c.key))
    text = f"4. job document ≤ {GOAL_JOB_WRITES_PER_S:g} write/s while streaming (all configs)"
    goals.append(goal("4 job rate", text, job_rate_figure, results, None))
    return goals


def goals_table(goals: list[Goal]) -> Table:
    table = Table(
        title="Goals (issue 9): the worker's figure and verdict; the original pattern's figure",
        title_justify="left",
    )
    for column in ("goal", "worker", "verdict", "original pattern (baseline)"):
        table.add_column(column)
    for g in goals:
        verdict = "[green]met[/]" if g.met else "[red]not met[/]"
        table.add_row(g.goal, g.measured, verdict, g.baseline)
    return table
