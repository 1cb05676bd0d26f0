"""The figures of a series of runs, as tables for the console and as dicts for --json-out."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from benchmarks.worker_streaming.figures import (
    TIMELINE,
    Traffic,
    job_write_figures,
    ms_summary,
    timeline,
)
from benchmarks.worker_streaming.model import WORKER, RunResult

Results = dict[str, list[RunResult]]

RUN_COLUMNS = (
    "pattern",
    "run",
    "saved",
    "(a) delay p50/p95/max ms",
    "(b) wall s",
    "stream s (last item)",
    "wall/stream",
    "stream s (final event)",
    "wall/stream (final)",
    "completedAt-startedAt s",
    "before stream / after last item s",
)
JOB_COLUMNS = (
    "pattern",
    "run",
    "writes (by kind)",
    "max in any 1 s (whole job)",
    "max in any 1 s (while streaming)",
    "while streaming: writes / s = mean rate",
    "paced rate (n-1 gaps)",
    "min gap between progress writes",
)


def fmt(value: float | None, digits: int = 0) -> str:
    return "–" if value is None or value != value else f"{value:.{digits}f}"


def runs_table(results: Results) -> Table:
    table = Table(title="Per run", title_justify="left")
    for column in RUN_COLUMNS:
        table.add_column(column, justify="left" if column == "pattern" else "right")
    for pattern, rows in results.items():
        for r in rows:
            d = ms_summary(r.delays.sent_to_listener)
            full = r.stream_full_s
            table.add_row(
                pattern,
                str(r.run),
                str(r.saved),
                f"{fmt(d['p50'])} / {fmt(d['p95'])} / {fmt(d['max'])}",
                fmt(r.wall_s, 2),
                fmt(r.stream_s, 2),
                fmt(r.wall_s / r.stream_s, 3),
                fmt(full, 2),
                fmt(r.wall_s / full if full else None, 3),
                fmt(r.job_duration_s, 2),
                f"{fmt(r.stream_received_at - r.started_at, 3)} / "
                f"{fmt(r.ended_at - r.last_item_sent_at, 3)}",
            )
    return table


def delay_table(results: Results) -> tuple[Table, dict[str, Any]]:
    """(a) pooled over runs, with where the time goes."""
    table = Table(
        title="(a) Question visible to a listener: delay after the model sent it (ms, all runs)",
        title_justify="left",
    )
    for column in ("pattern", "segment", "n", "p50", "p95", "max"):
        left = column in ("pattern", "segment")
        table.add_column(column, justify="left" if left else "right")
    figures: dict[str, Any] = {}
    for pattern, rows in results.items():
        segments = {
            "sent → listener (total)": [x for r in rows for x in r.delays.sent_to_listener],
            "sent → commit answered": [x for r in rows for x in r.delays.sent_to_commit],
            "commit answered → listener": [x for r in rows for x in r.delays.commit_to_listener],
        }
        figures[pattern] = {}
        for name, values in segments.items():
            s = ms_summary(values)
            figures[pattern][name] = s
            table.add_row(pattern, name, str(s["n"]), fmt(s["p50"]), fmt(s["p95"]), fmt(s["max"]))
    return table, figures


def traffic_by_pattern(results: Results) -> dict[str, Traffic]:
    """(c) Firestore traffic, summed over runs."""
    traffic = {pattern: Traffic() for pattern in results}
    for pattern, rows in results.items():
        for r in rows:
            traffic[pattern].add(r.rpcs)
    return traffic


def traffic_table(results: Results, traffic: dict[str, Traffic]) -> Table:
    methods = sorted(set().union(*(t.rpcs for t in traffic.values())))
    table = Table(
        title=f"(c) Firestore traffic at the gRPC channel ({len(results[WORKER])} run(s) summed)",
        title_justify="left",
    )
    table.add_column("method")
    for pattern in results:
        table.add_column(f"{pattern}: RPCs (failed)", justify="right")
        table.add_column(f"{pattern}: docs read / written", justify="right")
    for method in methods:
        cells = []
        for pattern in results:
            t = traffic[pattern]
            failed = f" ({t.failed[method]})" if t.failed[method] else ""
            missing = f" +{t.docs_missing[method]} missing" if t.docs_missing[method] else ""
            cells += [
                f"{t.rpcs[method]}{failed}",
                f"{t.docs_read[method]}{missing} / {t.docs_written[method]}",
            ]
        table.add_row(method, *cells)
    table.add_row(
        "[bold]total[/]",
        *[
            cell
            for pattern in results
            for cell in (
                str(traffic[pattern].rpcs.total()),
                f"{traffic[pattern].reads} / {traffic[pattern].writes}",
            )
        ],
    )
    return table


def traffic_figures(traffic: dict[str, Traffic]) -> dict[str, Any]:
    return {
        pattern: {
            "rpcs": dict(t.rpcs),
            "failed": dict(t.failed),
            "docs_read": dict(t.docs_read),
            "docs_missing": dict(t.docs_missing),
            "docs_written": dict(t.docs_written),
        }
        for pattern, t in traffic.items()
    }


def job_table(results: Results) -> tuple[Table, dict[str, list[dict[str, Any]]]]:
    """(d) the job document."""
    table = Table(
        title="(d) Writes to the job document (successful commits, by answer time)",
        title_justify="left",
    )
    for column in JOB_COLUMNS:
        table.add_column(column, justify="left" if column == "pattern" else "right")
    figures: dict[str, list[dict[str, Any]]] = {}
    for pattern, rows in results.items():
        figures[pattern] = []
        for r in rows:
            j = job_write_figures(r)
            figures[pattern].append(j)
            kinds = ", ".join(f"{k} {v}" for k, v in sorted(j["by_kind"].items()))
            table.add_row(
                pattern,
                str(r.run),
                f"{j['writes']} ({kinds})",
                str(j["max_1s_all"]),
                str(j["max_1s_streaming"]),
                f"{j['writes_streaming']} / {j['streaming_s']:.2f} = "
                f"{j['mean_rate_streaming']:.2f}/s",
                f"{j['paced_rate_streaming']:.2f}/s",
                "–" if j["min_progress_gap_s"] is None else f"{j['min_progress_gap_s']:.3f} s",
            )
    return table, figures


def timeline_table(results: Results) -> tuple[Table, list[dict[str, float | None]]]:
    table = Table(
        title="Timeline of each run (ms after process() / the original pattern began)",
        title_justify="left",
    )
    table.add_column("step")
    for pattern, rows in results.items():
        for r in rows:
            table.add_column(f"{pattern} {r.run}", justify="right")
    lines = [timeline(r) for rows in results.values() for r in rows]
    for label, key in TIMELINE:
        table.add_row(label, *(fmt(line[key]) for line in lines))
    return table, lines
