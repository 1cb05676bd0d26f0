"""The soak's figures: throughput, latencies, CPU, and a tally of the chaos. Read off Firestore's
own timestamps (a job's createdAt/completedAt, a question document's create_time), so no
listener or client clock is involved."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from benchmarks.report import percentile
from benchmarks.soaking.faults import fault_label
from benchmarks.soaking.world import World


@dataclass
class Timeline:
    drive_started: datetime
    drive_ended: datetime
    settled: datetime

    @property
    def seconds(self) -> float:
        return (self.settled - self.drive_started).total_seconds()


@dataclass
class Figures:
    """Label -> value, in the order printed; `numbers` holds the same for --json-out."""

    rows: dict[str, str] = field(default_factory=dict)
    numbers: dict[str, Any] = field(default_factory=dict)

    def add(self, label: str, text: str, value: Any = None) -> None:
        self.rows[label] = text
        self.numbers[label] = text if value is None else value


def _p(values: list[float]) -> str:
    ordered = sorted(values)
    if not ordered:
        return "–"
    p50, p95 = percentile(ordered, 50), percentile(ordered, 95)
    return f"p50 {p50:.2f} s, p95 {p95:.2f} s, max {ordered[-1]:.2f} s (n={len(ordered)})"


def job_figures(world: World, timeline: Timeline, figures: Figures) -> None:
    statuses = Counter(str(j.data.get("status")) for j in world.jobs.values())
    figures.add("jobs", ", ".join(f"{n} {s}" for s, n in statuses.most_common()), dict(statuses))
    ends = [j.data["completedAt"] for j in world.jobs.values() if j.data.get("completedAt")]
    window = max((max(ends) - timeline.drive_started).total_seconds(), 1.0) if ends else 1.0
    done = statuses.get("completed", 0)
    figures.add(
        "throughput",
        f"{done / window * 60:.1f} completed jobs/min, {len(world.questions) / window:.2f} "
        f"questions/s ({len(world.questions)} question documents in {window:.0f} s, from the "
        "drive's start to the last job's end)",
        {"jobsPerMinute": done / window * 60, "questionsPerSecond": len(world.questions) / window},
    )
    by_job = world.questions_of()
    first = [
        (min(d.create_time for d in docs) - world.jobs[job_id].data["createdAt"]).total_seconds()
        for job_id, docs in by_job.items()
        if docs and job_id in world.jobs
    ]
    figures.add("created → first question saved", _p(first))
    completion = [
        (j.data["completedAt"] - j.data["createdAt"]).total_seconds()
        for j in world.jobs.values()
        if j.data.get("status") == "completed"
    ]
    figures.add("created → completed", _p(completion))
    attempts = Counter(int(j.data.get("attempts", 0)) for j in world.jobs.values())
    runs = Counter(int(j.data.get("run", 0)) for j in world.jobs.values())
    figures.add("attempts per job (in its last run)", _counts(attempts, "×"), dict(attempts))
    figures.add("runs per job (queue runs: recovery, owner retries)", _counts(runs, "run"))


def _counts(counter: Counter[int], word: str) -> str:
    return ", ".join(f"{n} jobs {word}{k}" for k, n in sorted(counter.items()))


def chaos_figures(
    tally: dict[str, int], requests: list[dict[str, Any]], figures: Figures, kills: int
) -> None:
    figures.add("worker kills (SIGKILL, then restart)", str(kills), kills)
    faults = Counter(fault_label(r.get("fault")) for r in requests)
    injected = sum(n for label, n in faults.items() if label != "none")
    share = injected / max(len(requests), 1)
    detail = ", ".join(f"{n} {label}" for label, n in faults.most_common() if label != "none")
    figures.add(
        "model faults injected",
        f"{injected} of {len(requests)} model calls ({share:.1%}): {detail}",
        dict(faults),
    )
    for prefix in ("create", "cancel", "retry", "duplicate delivery", "sweep"):
        picked = {k: n for k, n in sorted(tally.items()) if k.startswith(prefix)}
        text = ", ".join(f"{n} × {k.removeprefix(prefix).strip(' :')}" for k, n in picked.items())
        figures.add(f"{prefix} (answers)", text or "none", picked)


def cpu_figures(cpu: list[tuple[int, float, int]], timeline: Timeline, figures: Figures) -> None:
    """cpu: (worker index, CPU seconds, incarnations) per worker slot."""
    for index, seconds, incarnations in cpu:
        figures.add(
            f"worker {index} CPU",
            f"{seconds:.0f} s over {timeline.seconds:.0f} s = {seconds / timeline.seconds:.0%} "
            f"of one core (over its {incarnations} processes: the first and each restart)",
            seconds,
        )
