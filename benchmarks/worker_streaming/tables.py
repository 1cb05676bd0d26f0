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
    write_budget,
)
from benchmarks.worker_streaming.model import PATTERNS, WORKER, Config, RunResult, pick

RUN_COLUMNS = (
    "config",
    "pattern",
    "run",
    "saved",
    "visible p50/p95/max ms",
    "wall s",
    "stream s",
    "overhead ms",
    "wall/stream (final event)",
    "model 1st question ms",
    "created → 1st visible ms",
    "writes (allowed)",
)
JOB_COLUMNS = (
    "config",
    "pattern",
    "run",
    "writes (by kind)",
    "max in 1 s (job / streaming)",
    "while streaming: writes / s",
    "paced rate (n-1 gaps)",
    "min progress gap",
)


def fmt(value: float | None, digits: int = 0) -> str:
    return "–" if value is None or value != value else f"{value:.{digits}f}"


def run_row(r: RunResult) -> list[str]:
    d = ms_summary(r.delays.sent_to_listener)
    full = r.stream_full_s
    writes, allowed = write_budget(r)
    first = r.first_visible_s
    return [
        r.config,
        r.pattern,
        str(r.run),
        str(r.saved),
        f"{fmt(d['p50'])} / {fmt(d['p95'])} / {fmt(d['max'])}",
        fmt(r.wall_s, 2),
        fmt(r.stream_s, 2),
        fmt(r.overhead_s * 1000),
        f"{fmt(r.wall_s / r.stream_s, 3)} ({fmt(r.wall_s / full if full else None, 3)})",
        fmt(r.model_first_s * 1000),
        fmt(None if first is None else first * 1000),
        f"{writes} ({allowed})",
    ]


def runs_table(results: list[RunResult]) -> Table:
    table = Table(title="Per run", title_justify="left")
    for column in RUN_COLUMNS:
        table.add_column(column, justify="left" if column in ("config", "pattern") else "right")
    for r in results:
        table.add_row(*run_row(r))
    return table


def delay_table(
    results: list[RunResult], configs: tuple[Config, ...]
) -> tuple[Table, dict[str, Any]]:
    """Goal 1, pooled over runs, split at the commit that wrote the question."""
    table = Table(
        title="Question visible to a listener: ms after the model sent its last byte (all runs)",
        title_justify="left",
    )
    for column in ("config", "pattern", "segment", "n", "p50", "p95", "max"):
        left = column in ("config", "pattern", "segment")
        table.add_column(column, justify="left" if left else "right")
    figures: dict[str, Any] = {}
    for c in configs:
        for pattern in PATTERNS:
            rows = pick(results, c.key, pattern)
            segments = {
                "sent → listener (total)": [x for r in rows for x in r.delays.sent_to_listener],
                "sent → parser finished it": [x for r in rows for x in r.delays.sent_to_parsed],
                "parsed → commit answered": [x for r in rows for x in r.delays.parsed_to_commit],
                "commit answered → listener": [
                    x for r in rows for x in r.delays.commit_to_listener
                ],
            }
            for name, values in segments.items():
                s = ms_summary(values)
                figures[f"{c.key} / {pattern} / {name}"] = s
                cells = [str(s["n"]), fmt(s["p50"]), fmt(s["p95"]), fmt(s["max"])]
                table.add_row(c.key, pattern, name, *cells)
    return table, figures


def traffic_of(rows: list[RunResult]) -> Traffic:
    traffic = Traffic()
    for r in rows:
        traffic.add(r.rpcs)
    return traffic


def traffic_table(
    results: list[RunResult], configs: tuple[Config, ...]
) -> tuple[Table, dict[str, Any]]:
    """Firestore traffic at the worker's gRPC channel, summed over each configuration's runs."""
    table = Table(
        title="Firestore traffic at the gRPC channel (each configuration's runs summed)",
        title_justify="left",
    )
    for column in (
        "config",
        "method",
        *(f"{p}: RPCs (failed); docs read / written" for p in PATTERNS),
    ):
        table.add_column(column, justify="left" if column in ("config", "method") else "right")
    figures: dict[str, Any] = {}
    for c in configs:
        traffic = {p: traffic_of(pick(results, c.key, p)) for p in PATTERNS}
        figures[c.key] = {p: t.figures() for p, t in traffic.items()}
        for method in sorted(set().union(*(t.rpcs for t in traffic.values()))):
            table.add_row(c.key, method, *(t.cell(method) for t in traffic.values()))
        totals = [f"{t.rpcs.total()}; {t.reads} / {t.writes}" for t in traffic.values()]
        table.add_row(c.key, "[bold]total[/]", *totals)
    return table, figures


def job_table(results: list[RunResult]) -> tuple[Table, list[dict[str, Any]]]:
    """Goal 4: writes to the job document."""
    table = Table(
        title="Writes to the job document (successful commits, by answer time)",
        title_justify="left",
    )
    for column in JOB_COLUMNS:
        table.add_column(column, justify="left" if column in ("config", "pattern") else "right")
    figures: list[dict[str, Any]] = []
    for r in results:
        j = job_write_figures(r)
        figures.append({"config": r.config, "pattern": r.pattern, "run": r.run, **j})
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(j["by_kind"].items()))
        gap = j["min_progress_gap_s"]
        table.add_row(
            r.config,
            r.pattern,
            str(r.run),
            f"{j['writes']} ({kinds})",
            f"{j['max_1s_all']} / {j['max_1s_streaming']}",
            f"{j['writes_streaming']} / {j['streaming_s']:.2f} = {j['mean_rate_streaming']:.2f}/s",
            f"{fmt(j['paced_rate_streaming'], 2)}/s",
            "–" if gap is None else f"{gap:.3f} s",
        )
    return table, figures


def timeline_table(results: list[RunResult]) -> tuple[Table, list[dict[str, Any]]]:
    """The worker's runs, step by step."""
    rows = pick(results, pattern=WORKER)
    table = Table(
        title="Timeline of the worker's runs (ms after the job was created)", title_justify="left"
    )
    table.add_column("step")
    for r in rows:
        table.add_column(f"{r.config} {r.run}", justify="right")
    lines = [timeline(r) for r in rows]
    for label, key in TIMELINE:
        table.add_row(label, *(fmt(line[key]) for line in lines))
    figures = [
        {"config": r.config, "run": r.run, **line} for r, line in zip(rows, lines, strict=True)
    ]
    return table, figures
