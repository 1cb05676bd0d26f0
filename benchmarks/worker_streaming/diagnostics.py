"""Where the time goes: Firestore's latency as each pattern saw it, and the CPU of the run."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from benchmarks.firestore_traffic import Rpc
from benchmarks.worker_streaming.figures import ms_summary
from benchmarks.worker_streaming.model import PATTERNS, Config, RunResult, pick
from benchmarks.worker_streaming.tables import fmt

RTT_METHODS = ("BeginTransaction", "BatchGetDocuments", "Commit")


def question_write_seconds(rpcs: list[Rpc]) -> list[float]:
    """Per commit that wrote questions: from the start of its transaction (the worker: the
    BatchGetDocuments that began it, or a BeginTransaction) or of the Commit itself (the
    original pattern) to the Commit's answer."""
    out: list[float] = []
    begun: float | None = None
    for rpc in sorted(rpcs, key=lambda r: r.started):
        if rpc.method == "BeginTransaction" or rpc.begins:
            begun = rpc.started
        elif rpc.method == "Commit":
            if rpc.ok and any(text for _, _, text in rpc.writes):
                out.append(rpc.at - (rpc.started if begun is None else begun))
            begun = None
    return out


def latency_table(
    results: list[RunResult], configs: tuple[Config, ...]
) -> tuple[Table, dict[str, Any]]:
    """The emulator's answer times: one question write, and each RPC's round trip."""
    table = Table(
        title="Firestore latency at the gRPC channel (ms, p50 / p95; all runs)",
        title_justify="left",
    )
    heads = ("question writes", "write: tx begin → commit answered")
    for column in ("config", "pattern", *heads, *(f"{m} RTT" for m in RTT_METHODS)):
        table.add_column(column, justify="left" if column in ("config", "pattern") else "right")
    figures: dict[str, Any] = {}
    for c in configs:
        for pattern in PATTERNS:
            rpcs = [rpc for r in pick(results, c.key, pattern) for rpc in r.rpcs]
            writes = ms_summary(question_write_seconds(rpcs))
            rtts = {
                m: ms_summary([x.at - x.started for x in rpcs if x.method == m])
                for m in RTT_METHODS
            }
            figures[f"{c.key} / {pattern}"] = {"question_write": writes, "rtt": rtts}
            cells = [
                "–" if s["n"] == 0 else f"{fmt(s['p50'])} / {fmt(s['p95'])}"
                for s in (writes, *rtts.values())
            ]
            table.add_row(c.key, pattern, str(writes["n"]), *cells)
    return table, figures


def cpu_table(results: list[RunResult], cores: int) -> tuple[Table, list[dict[str, Any]]]:
    """Where the CPU went while each pattern ran: our processes, and the machine's others."""
    table = Table(
        title=f"CPU while the pattern ran (seconds; % of one core; the machine has {cores})",
        title_justify="left",
    )
    names = ("bench", "listener", "firestore", "model")
    heads = (
        "bench process",
        "listener",
        "emulator",
        "model server",
        "machine busy",
        "other processes",
    )
    for column in ("config", "pattern", "run", "wall s", *heads):
        table.add_column(column, justify="left" if column in ("config", "pattern") else "right")
    figures: list[dict[str, Any]] = []
    for r in results:
        ours = [r.cpu.get(name, float("nan")) for name in names]
        machine = r.cpu.get("machine", float("nan"))
        values = [*ours, machine, machine - sum(ours)]
        cells = [f"{fmt(v, 2)} ({fmt(100 * v / r.wall_s)} %)" for v in values]
        table.add_row(r.config, r.pattern, str(r.run), fmt(r.wall_s, 2), *cells)
        figures.append({"config": r.config, "pattern": r.pattern, "run": r.run, **r.cpu})
    return table, figures
