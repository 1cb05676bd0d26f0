"""The figures of a run, computed from its record: traffic, job-document writes, timeline."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from benchmarks.firestore_traffic import Rpc
from benchmarks.report import percentile
from benchmarks.worker_streaming.model import GOAL_WRITES_EXTRA, RunResult


def max_in_window(times: list[float], width: float = 1.0) -> int:
    """The most timestamps in any half-open window [t, t + width)."""
    ordered, best, low = sorted(times), 0, 0
    for high, t in enumerate(ordered):
        while t - ordered[low] >= width:
            low += 1
        best = max(best, high - low + 1)
    return best


@dataclass
class Traffic:
    rpcs: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    docs_read: Counter[str] = field(default_factory=Counter)
    docs_missing: Counter[str] = field(default_factory=Counter)
    docs_written: Counter[str] = field(default_factory=Counter)

    def add(self, rpcs: list[Rpc]) -> None:
        for rpc in rpcs:
            self.rpcs[rpc.method] += 1
            if not rpc.ok:
                self.failed[rpc.method] += 1
            self.docs_read[rpc.method] += rpc.docs_found
            self.docs_missing[rpc.method] += rpc.docs_missing
            if rpc.ok:
                self.docs_written[rpc.method] += len(rpc.writes)

    @property
    def writes(self) -> int:
        return self.docs_written.total()

    @property
    def reads(self) -> int:
        return self.docs_read.total()

    @property
    def commits(self) -> int:
        return self.rpcs["Commit"]

    def cell(self, method: str) -> str:
        """RPCs (failed); documents read (+missing) / written, of one method."""
        failed = f" ({self.failed[method]})" if self.failed[method] else ""
        missing = f" +{self.docs_missing[method]} missing" if self.docs_missing[method] else ""
        return f"{self.rpcs[method]}{failed}; {self.docs_read[method]}{missing} / " + str(
            self.docs_written[method]
        )

    def figures(self) -> dict[str, Any]:
        return {
            "rpcs": dict(self.rpcs),
            "failed": dict(self.failed),
            "docs_read": dict(self.docs_read),
            "docs_missing": dict(self.docs_missing),
            "docs_written": dict(self.docs_written),
        }


def job_write_figures(result: RunResult) -> dict[str, Any]:
    writes = result.job_writes()
    low, high = result.streaming_window()
    during = [t for t, _ in writes if low <= t <= high]
    progress = [t for t, kind in writes if kind == "progress"]
    gaps = [b - a for a, b in itertools.pairwise(progress)]
    span = during[-1] - during[0] if len(during) > 1 else 0.0
    return {
        "writes": len(writes),
        "by_kind": dict(Counter(kind for _, kind in writes)),
        "max_1s_all": max_in_window([t for t, _ in writes]),
        "max_1s_streaming": max_in_window(during),
        "streaming_s": high - low,
        "writes_streaming": len(during),
        "mean_rate_streaming": len(during) / (high - low) if high > low else float("nan"),
        # The rate the writes were paced at: (n - 1) intervals between the first and the last
        # write while streaming. Over a short stream, n writes 1 s apart fill only n - 1
        # seconds, so writes / window overstates a paced rate (3 writes in 2.97 s = 1.01/s).
        "paced_rate_streaming": (len(during) - 1) / span if span > 0 else float("nan"),
        "min_progress_gap_s": min(gaps) if gaps else None,
    }


TIMELINE = (
    ("process() called", "started"),
    ("start/claim written", "first_lifecycle"),
    ("stream request received", "stream_received"),
    ("plan written", "plan"),
    ("first question sent", "first_sent"),
    ("first question committed", "first_committed"),
    ("first question seen", "first_seen"),
    ("last item sent", "last_item_sent"),
    ("final event received", "final_event"),
    ("last question committed", "last_question"),
    ("last progress write", "last_progress"),
    ("completion written", "last_lifecycle"),
    ("returned", "returned"),
)


def timeline(result: RunResult) -> dict[str, float | None]:
    """Milliseconds from the job's creation (create() returned) to each step (None: none)."""
    writes = result.job_writes()
    committed = [
        rpc.at
        for rpc in result.rpcs
        if rpc.method == "Commit" and rpc.ok and any(text for _, _, text in rpc.writes)
    ]

    def first(kind: str) -> float | None:
        return next((t for t, k in writes if k == kind), None)

    def last(kind: str) -> float | None:
        return next((t for t, k in reversed(writes) if k == kind), None)

    points = {
        "started": result.started_at,
        "first_lifecycle": first("lifecycle"),
        "stream_received": result.stream_received_at,
        "plan": first("plan"),
        "first_sent": result.first_item_sent_at,
        "first_committed": min(committed, default=None),
        "first_seen": result.first_seen_at,
        "last_item_sent": result.last_item_sent_at,
        "final_event": result.final_chunk_at,
        "last_question": max(committed, default=None),
        "last_progress": last("progress"),
        "last_lifecycle": last("lifecycle"),
        "returned": result.ended_at,
    }
    return {k: None if v is None else (v - result.created_at) * 1000 for k, v in points.items()}


def writes_by_collection(result: RunResult) -> Counter[str]:
    """Document writes of successful commits, by top-level collection."""
    counts: Counter[str] = Counter()
    for rpc in result.rpcs:
        if rpc.method == "Commit" and rpc.ok:
            for path, _, _ in rpc.writes:
                counts[path.split("/documents/", 1)[-1].split("/", 1)[0]] += 1
    return counts


def write_budget(result: RunResult) -> tuple[int, int]:
    """Goal 4: (billed document writes, N + ceil(stream seconds) + 4) of one job."""
    traffic = Traffic()
    traffic.add(result.rpcs)
    return traffic.writes, result.saved + math.ceil(result.stream_s) + GOAL_WRITES_EXTRA


def ms_summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"n": 0, "p50": float("nan"), "p95": float("nan"), "max": float("nan")}
    return {
        "n": len(ordered),
        "p50": percentile(ordered, 50) * 1000,
        "p95": percentile(ordered, 95) * 1000,
        "max": ordered[-1] * 1000,
    }
