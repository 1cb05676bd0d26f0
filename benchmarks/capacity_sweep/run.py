"""One capacity run: the private stack plus one worker process, the sweep, the report; the
exit status."""

from __future__ import annotations

import json
import os
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from google.cloud import firestore
from qgen.config import Settings
from rich.console import Console
from rich.markup import escape

from benchmarks.capacity_sweep.light_listener import LightListeners
from benchmarks.capacity_sweep.plan import (
    CAPACITY_LOG_DIR,
    CAPACITY_PROJECT,
    GOAL_JOBS,
    Plan,
)
from benchmarks.capacity_sweep.report import report
from benchmarks.capacity_sweep.rounds import Rig, warm_up
from benchmarks.capacity_sweep.sweep import sweep_before_deadline
from benchmarks.capacity_sweep.worker_process import (
    group_cpu_seconds,
    machine_cores,
    production_like_env,
    start_worker,
    worker_pids,
)
from benchmarks.environment import (
    firestore_emulator_version,
    load_average,
    machine_busy_seconds,
    machine_line,
    process_cpu_seconds,
)
from benchmarks.firestore_traffic import RpcCounter
from benchmarks.report import setup_table
from benchmarks.worker_streaming.model import EXIT_INTERRUPTED, EXIT_NOT_RUN, EXIT_OK, PROMPT
from benchmarks.worker_streaming.patterns import Env
from benchmarks.worker_streaming.private_stack import BenchStack, bench_stack
from dev.model_server.client import AdminClient
from dev.stack import ROOT, firestore_emulator_host

METHOD = {
    "deliveries": "each job is created by the real JobService in this process (a learner and "
    "an address of its own, so no limit applies), then delivered as Cloud Tasks would: POST "
    "{jobId} to the worker process with X-CloudTasks-QueueName, the K deliveries of a round "
    "released together from K threads. Wall: POST sent → answered.",
    "visible": "model server's sentAt of a question (right after the chunk holding its closing "
    "brace was written) → time.time() as the document_change carrying it is read off a raw "
    "Firestore Listen stream on questions where userId == the job's learner (one stream per "
    "job, current before the job existed; all on one gRPC channel, read by one asyncio "
    "thread; no snapshot is built); matched by question text. Per job p50/p95, and pooled "
    "over every job of a K.",
    "stream": "the model server's receivedAt of the job's streamGenerateContent request → sentAt "
    "of its last question; the job's request is told apart by its learner request, "
    f"{PROMPT!r} + ' (capacity job #i)'.",
    "saturation": "pooled p95 at each K against K = 1; the sweep stops at the first K where it "
    "has doubled (K = 10 measured in any case).",
}


def rig_on(bench: BenchStack, plan: Plan, console: Console) -> Rig:
    worker, worker_url = start_worker(bench, plan.threads, plan.questions)
    console.print(
        f"Worker process (functions-framework process_job) at {worker_url}, pids "
        f"{worker_pids(worker.process.pid)}."
    )
    pids = {"bench": os.getpid()}
    pids.update({m.name: m.process.pid for m in bench.stack.processes if m.name != "worker"})

    def cpu() -> dict[str, float]:
        seconds = {name: process_cpu_seconds(pid) for name, pid in pids.items()}
        return {
            **seconds,
            "worker": group_cpu_seconds(worker.process.pid),
            "machine": machine_busy_seconds(),
        }

    settings = Settings(project_id=CAPACITY_PROJECT, max_questions_per_job=plan.questions)
    plain = firestore.Client(project=CAPACITY_PROJECT)
    env = Env(
        settings,
        RpcCounter(),
        plain,
        plain,
        AdminClient(bench.model_url),
        bench.model_url,
        firestore_address=bench.firestore,
    )
    listeners = LightListeners(bench.firestore, CAPACITY_PROJECT)
    return Rig(env, worker_url, bench.stack.config.tasks_queue, cpu, listeners)


def setup_info(plan: Plan, load_before: str) -> dict[str, str]:
    env = production_like_env(plan.threads, plan.questions)
    rate = f"{plan.dispatch_rate:g}/s" if plan.dispatch_rate else "all at once"
    return {
        "date (UTC)": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        "command": "python -m benchmarks.capacity " + shlex.join(sys.argv[1:]),
        "machine": f"{machine_line()}; load before {load_before}",
        "emulator": f"Firestore emulator {firestore_emulator_version()}",
        "worker": "one functions-framework process (gunicorn, 1 worker process, "
        f"THREADS={env['THREADS']}), the local stack's environment with "
        f"SPEND_READING_MAX_AGE_SECONDS={env['SPEND_READING_MAX_AGE_SECONDS']} (production's)",
        "jobs": f"prompt {PROMPT!r} (+ a tag), {plan.questions} questions each; offline model "
        f"at its defaults; deliveries {rate}; at least "
        f"{plan.min_jobs_per_step} jobs per K; goal at K = {GOAL_JOBS}"
        + ("; one uncounted warm-up round (2 jobs at pace 0) first" if plan.warmup else ""),
        **METHOD,
    }


def measure(console: Console, plan: Plan, deadline: float) -> dict[str, Any]:
    info = setup_info(plan, load_average())
    console.print("Starting a private Firestore emulator, offline model server and worker …")
    with (
        bench_stack(console, CAPACITY_PROJECT, CAPACITY_LOG_DIR) as bench,
        firestore_emulator_host(bench.firestore),
    ):
        rig = rig_on(bench, plan, console)
        try:
            info["offline model"] = f"defaults (GET /_admin/config): {rig.env.admin.config()}"
            if plan.warmup:
                warm_up(rig, 2)
            steps, why = sweep_before_deadline(rig, plan, console, deadline)
            info["load after"] = load_average()
        finally:
            rig.listeners.shutdown()
    console.print(setup_table(info))
    return {"setup": info, **report(console, steps, why, machine_cores())}


def run(console: Console, plan: Plan, json_out: Path | None, deadline: float) -> int:
    """EXIT_OK once the sweep was carried out, whether or not the goals were met."""
    try:
        figures = measure(console, plan, deadline)
        if json_out:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(figures, indent=2, default=str))
        return EXIT_OK
    except KeyboardInterrupt:
        console.print("[red]Interrupted; the emulator, model server and worker were stopped.[/]")
        return EXIT_INTERRUPTED
    except Exception as exc:
        console.print(f"[red bold]The run failed: {escape(f'{type(exc).__name__}: {exc}')}[/]")
        console.print(f"Logs: {CAPACITY_LOG_DIR.relative_to(ROOT)}/")
        return EXIT_NOT_RUN
