"""The sweep: K = 1, 2, 5, 10, … concurrent jobs into the one worker process, until pooled
p95 has doubled (the goal's K measured in any case), --max-jobs, or the time runs out."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from rich.console import Console

from benchmarks.capacity_sweep.plan import Plan, Step, rounds_for, sweep_done, sweep_sizes
from benchmarks.capacity_sweep.rounds import Rig, run_round
from benchmarks.worker_streaming.model import RunError

# A step is not begun with less time left than this (a 40-question stream takes ~12 s, and a
# large K queues behind a busy emulator).
STEP_RESERVE_SECONDS = 90.0


def run_step(rig: Rig, k: int, plan: Plan) -> Step:
    rounds = [
        run_round(rig, k, plan.dispatch_rate) for _ in range(rounds_for(k, plan.min_jobs_per_step))
    ]
    cpu: Counter[str] = Counter()
    for r in rounds:
        cpu.update(r.cpu)
    return Step(
        jobs_at_once=k,
        jobs=[job for r in rounds for job in r.jobs],
        seconds=sum(r.seconds for r in rounds),
        cpu=dict(cpu),
    )


def step_line(step: Step) -> str:
    ratios = [job.ratio for job in step.jobs]
    return (
        f"  K = {step.jobs_at_once}: {len(step.jobs)} jobs, visible p50 "
        f"{step.pooled_ms(50):.0f} ms, p95 {step.pooled_ms(95):.0f} ms, worst wall/stream "
        f"{max(ratios):.3f}, {len(step.failed)} failed"
    )


def sweep(rig: Rig, plan: Plan, console: Console, deadline: float) -> tuple[list[Step], str]:
    """The steps measured, and why the sweep stopped."""
    steps: list[Step] = []
    p95_by_k: list[tuple[int, float]] = []
    for k in sweep_sizes(plan.max_jobs):
        if deadline - time.monotonic() < STEP_RESERVE_SECONDS:
            return steps, f"--timeout: less than {STEP_RESERVE_SECONDS:.0f} s left before K = {k}"
        rounds = rounds_for(k, plan.min_jobs_per_step)
        console.print(f"K = {k}: {rounds} round(s) of {k} concurrent job(s) …")
        step = run_step(rig, k, plan)
        steps.append(step)
        console.print(step_line(step))
        if step.failed:
            return steps, f"K = {k}: {len(step.failed)} job(s) failed or were not all seen"
        p95_by_k.append((k, step.pooled_ms(95)))
        if sweep_done(p95_by_k):
            return steps, f"pooled p95 doubled at K = {k}"
    return steps, f"--max-jobs {plan.max_jobs} reached"


def sweep_before_deadline(
    rig: Rig, plan: Plan, console: Console, deadline: float
) -> tuple[list[Step], str]:
    """The sweep in a daemon thread, given up on (RunError) a minute after the deadline: the
    sweep itself stops at the deadline, this only guards against a stuck delivery."""
    outcome: dict[str, Any] = {}

    def body() -> None:
        try:
            outcome["result"] = sweep(rig, plan, console, deadline)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=body, name="capacity", daemon=True)
    thread.start()
    thread.join(max(0.0, deadline + 60 - time.monotonic()))
    if thread.is_alive():
        raise RunError(f"not finished within --timeout {plan.timeout:.0f} s")
    if "error" in outcome:
        raise outcome["error"]
    result: tuple[list[Step], str] = outcome["result"]
    return result
