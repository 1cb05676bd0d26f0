"""The figures of one run, as tables for the console and as a dict for --json-out."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from typing import Any

from rich.markup import escape
from rich.table import Table

from benchmarks.job_creation.model import Check, Outcome
from benchmarks.report import percentile

LATENCY_BUCKETS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
SUMMARY_KEYS = ("p50_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms")


def latency_summary(values: list[float]) -> dict[str, float | int | None]:
    """Milliseconds; None where there is nothing to summarise."""
    ordered = sorted(values)
    if not ordered:
        return {"n": 0, **dict.fromkeys(SUMMARY_KEYS)}
    return {
        "n": len(ordered),
        "p50_ms": percentile(ordered, 50) * 1000,
        "p95_ms": percentile(ordered, 95) * 1000,
        "p99_ms": percentile(ordered, 99) * 1000,
        "max_ms": ordered[-1] * 1000,
        "mean_ms": sum(ordered) / len(ordered) * 1000,
    }


def _ms(value: float | int | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def answered(outcomes: list[Outcome]) -> list[Outcome]:
    return [o for o in outcomes if o.status is not None]


def throughput_table(outcomes: list[Outcome], wall: float) -> Table:
    responses = answered(outcomes)
    admitted = sum(1 for o in outcomes if o.admitted)
    table = Table(title="Throughput", show_header=False, title_justify="left")
    table.add_column("item", style="bold")
    table.add_column("value", justify="right")
    table.add_row("requests sent", str(len(outcomes)))
    table.add_row("responses", str(len(responses)))
    table.add_row("admitted (202)", str(admitted))
    table.add_row("wall time", f"{wall:.2f} s")
    table.add_row("responses/s", f"{responses_per_second(outcomes, wall):.1f}")
    table.add_row("admissions/s", f"{admitted / wall:.1f}" if wall > 0 else "–")
    return table


def responses_per_second(outcomes: list[Outcome], wall: float) -> float:
    return len(answered(outcomes)) / wall if wall > 0 else 0.0


def latency_table(outcomes: list[Outcome]) -> tuple[Table, dict[str, Any]]:
    """Latency by kind of answer, and the same figures for the JSON report."""
    responses = answered(outcomes)
    groups = {
        "all responses": [o.latency for o in responses],
        "admitted (202)": [o.latency for o in responses if o.admitted],
        "rejected 429": [o.latency for o in responses if o.status == 429],
        "503 (contention/queue)": [o.latency for o in responses if o.status == 503],
    }
    table = Table(title="Latency (ms, client side)", title_justify="left")
    for column in ("requests", "n", "p50", "p95", "p99", "max", "mean"):
        table.add_column(column, justify="left" if column == "requests" else "right")
    stats: dict[str, Any] = {}
    for name, values in groups.items():
        summary = stats[name] = latency_summary(values)
        table.add_row(name, str(summary["n"]), *(_ms(summary[k]) for k in SUMMARY_KEYS))
    return table, stats


def answers_table(outcomes: list[Outcome]) -> Table:
    table = Table(title="Answers by HTTP status and error code", title_justify="left")
    table.add_column("answer")
    table.add_column("count", justify="right")
    table.add_column("share", justify="right")
    for label, count in sorted(Counter(o.label for o in outcomes).items()):
        table.add_row(escape(label), str(count), f"{100 * count / max(1, len(outcomes)):.1f}%")
    return table


def histogram_table(outcomes: list[Outcome]) -> tuple[Table, dict[str, int]]:
    """Responses by latency bucket: lock waits show up as steps of the emulator's timeout."""
    responses = answered(outcomes)
    edges = [0.0, *LATENCY_BUCKETS, math.inf]
    table = Table(title="Latency distribution (all responses)", title_justify="left")
    table.add_column("latency")
    table.add_column("responses", justify="right")
    table.add_column("of which 202", justify="right")
    buckets: dict[str, int] = {}
    for low, high in itertools.pairwise(edges):
        inside = [o for o in responses if low <= o.latency < high]
        name = f"≥ {low:g} s" if math.isinf(high) else f"{low:g}–{high:g} s"
        buckets[name] = len(inside)
        if inside:
            table.add_row(name, str(len(inside)), str(sum(1 for o in inside if o.admitted)))
    return table, buckets


def figures(outcomes: list[Outcome], wall: float, latency: dict[str, Any]) -> dict[str, Any]:
    return {
        "requests": len(outcomes),
        "responses": len(answered(outcomes)),
        "admitted": sum(1 for o in outcomes if o.admitted),
        "wall_s": wall,
        "responses_per_s": responses_per_second(outcomes, wall),
        "latency": latency,
        "answers": dict(Counter(o.label for o in outcomes)),
    }


def checks_table(checks: list[Check]) -> Table:
    table = Table(title="Verification (read back from Firestore)", title_justify="left")
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail")
    for check in checks:
        result = "[green]PASS[/]" if check.ok else "[red]FAIL[/]"
        table.add_row(escape(check.name), result, escape(check.detail))
    return table
