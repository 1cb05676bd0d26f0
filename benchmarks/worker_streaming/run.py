"""One benchmark run: settings, the private stack, the series of runs (with its deadline),
the setup table and the report; the exit status."""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from google.cloud import firestore
from qgen.config import Settings
from rich.console import Console
from rich.markup import escape

from benchmarks.environment import (
    code_version,
    cpu_model,
    firestore_emulator_version,
    load_average,
)
from benchmarks.firestore_traffic import CountedClient, RpcCounter
from benchmarks.report import setup_table
from benchmarks.worker_streaming.listener_process import ListenerProcess
from benchmarks.worker_streaming.measure import run_all
from benchmarks.worker_streaming.model import (
    BENCH_LOG_DIR,
    BENCH_PROJECT,
    EXIT_INTERRUPTED,
    EXIT_NOT_RUN,
    EXIT_OK,
    GOAL_WRITES_EXTRA,
    ORIGINAL_STATUS_READ_EVERY,
    PROMPT,
    Plan,
    RunError,
    RunResult,
)
from benchmarks.worker_streaming.patterns import Env
from benchmarks.worker_streaming.private_stack import BenchStack, bench_stack
from benchmarks.worker_streaming.summary import report
from dev.model_server.client import AdminClient
from dev.stack import ROOT, firestore_emulator_host

# How each figure was measured, printed in the setup table after the run's own settings.
METHOD = {
    "1. visible": "model server's sentAt of a question (time.time() right after the chunk "
    "holding the item's closing brace was written to the socket) → seen by a listener in a "
    "process of its own (the learner's device: listener_process.py) on questions where userId "
    "== the job's own user, every run from an empty database; --listener listen (default): a "
    "raw Firestore Listen stream, time.time() at the stream's first consistent point (a "
    "target_change with a read_time and no target ids) after the question's document_change, "
    "when a client SDK raises the snapshot holding it; --listener snapshot: time.time() in the "
    "on_snapshot callback of a firestore.Client. Matched by question text; pooled over the "
    "runs of a configuration. Split at the answer of the commit that wrote the question.",
    "2. overhead": "wall: WorkerService.process() call to return. Stream: the model server's "
    "receivedAt of the streamGenerateContent request → sentAt of the last question (also → "
    "the final event, as the worker's model adapter received it). Overhead = wall − stream, "
    "p50 over the runs of each configuration; wall / stream: the worst run.",
    "3. first question": "created: JobService.create() returned (the listener was up "
    "before; process() is called at once: no Cloud Tasks hop) → the listener saw the first "
    "question; against the model's time to first question: receivedAt → sentAt of its first "
    "question event. Verdict on the worst run.",
    "4. writes": "a gRPC interceptor on the worker's Firestore channel counts the document "
    "writes of successful Commit requests (a write with transforms is one write); the job's "
    "creation (API) is not the worker's and is not counted. Allowed: N saved + ⌈stream s⌉ + "
    f"{GOAL_WRITES_EXTRA}, per run. Job document: successful commits writing it, at their "
    "answer time; while streaming (request received → final event) the paced rate "
    "(n − 1) / (last − first) and the most in any half-open 1 s window, worst run.",
    "5. baseline": "the seed's pattern on the same stream (same request, chunks and "
    "questions; same parser; the worker's question documents), through the same counted "
    "channel: per question add() + update() of the job's counts (separate commits), status "
    f"get() every {ORIGINAL_STATUS_READ_EVERY}; plus processing / plan / completed updates.",
}


def bench_settings(plan: Plan) -> Settings:
    overrides: dict[str, Any] = {"max_questions_per_job": plan.questions}
    if plan.interval is not None:
        overrides["progress_write_interval_seconds"] = plan.interval
    return Settings(project_id=BENCH_PROJECT, **overrides)


def setup_info(plan: Plan, settings: Settings, load_before: str, code: str) -> dict[str, str]:
    s = settings
    return {
        "date (UTC)": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        "command": "python -m benchmarks.worker_stream " + shlex.join(sys.argv[1:]),
        "machine": f"{os.cpu_count()} CPUs (nproc; {cpu_model()}), {platform.system()} "
        f"{platform.release()}, load avg before {load_before}",
        "python": platform.python_version(),
        "code": code,
        "emulator": f"Firestore emulator {firestore_emulator_version()}",
        "settings": f"job prompt {PROMPT!r}, max_questions_per_job {plan.questions}, "
        f"progress_write_interval_seconds {s.progress_write_interval_seconds:g}, lease "
        f"{s.lease_seconds} s, thinking budget {s.gemini_thinking_budget}; listener "
        f"{plan.listener!r}; {plan.runs} run(s) "
        "of each pattern per configuration, worker and original pattern alternating"
        + (", after one uncounted warm-up pass of each at pace 0" if plan.warmup else ""),
        **METHOD,
    }


def bench_env(settings: Settings, bench: BenchStack, listeners: ListenerProcess) -> Env:
    """Clients on the stack's emulator (FIRESTORE_EMULATOR_HOST must point at it)."""
    counter = RpcCounter()
    return Env(
        settings=settings,
        counter=counter,
        counted_db=CountedClient(project=BENCH_PROJECT, counter=counter),
        plain_db=firestore.Client(project=BENCH_PROJECT),
        admin=AdminClient(bench.model_url),
        model_url=bench.model_url,
        listeners=listeners,
        firestore_address=bench.firestore,
        pids={
            "bench": os.getpid(),  # worker, original pattern, model client
            "listener": listeners.pid,
            **{m.name: m.process.pid for m in bench.stack.processes},  # firestore, model
        },
    )


def run_before_deadline(env: Env, plan: Plan, console: Console, deadline: float) -> list[RunResult]:
    """run_all in a daemon thread, given up on (RunError) at the deadline."""
    outcome: dict[str, Any] = {}

    def body() -> None:
        try:
            outcome["results"] = run_all(env, plan, console)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=body, name="bench", daemon=True)
    thread.start()
    thread.join(max(0.0, deadline - time.monotonic()))
    if thread.is_alive():
        raise RunError(f"not finished within --timeout {plan.timeout:.0f} s")
    if "error" in outcome:
        raise outcome["error"]
    results: list[RunResult] = outcome["results"]
    return results


def configs_info(plan: Plan, defaults: dict[str, Any]) -> str:
    """The configurations, with the offline model's defaults as the server reported them."""
    shown = ", ".join(f"{k} {v}" for k, v in defaults.items() if k != "seed")
    lines = [f"{c.key}: {c.label}, admin config {c.model or 'unchanged'}" for c in plan.configs()]
    return f"offline model defaults (GET /_admin/config): {shown}. " + "; ".join(lines)


def measure_on_stack(
    console: Console, plan: Plan, info: dict[str, str], settings: Settings, deadline: float
) -> dict[str, Any]:
    """Start the stack, run the series, print the setup and the report; the figures."""
    console.print("Starting a private Firestore emulator and offline model server …")
    with bench_stack(console) as bench, firestore_emulator_host(bench.firestore):
        listeners = ListenerProcess(BENCH_PROJECT, plan.listener)
        try:
            env = bench_env(settings, bench, listeners)
            info["configurations"] = configs_info(plan, env.admin.config())
            results = run_before_deadline(env, plan, console, deadline)
        finally:
            listeners.stop()
        info["load after"] = load_average()
        console.print(setup_table(info))
        return report(console, results, info, plan.configs())


def run(console: Console, plan: Plan, json_out: Path | None, deadline: float) -> int:
    """The exit status: EXIT_OK once the run was carried out, whether or not goals were met."""
    load_before = load_average()
    code = code_version()
    settings = bench_settings(plan)
    info = setup_info(plan, settings, load_before, code)
    try:
        figures = measure_on_stack(console, plan, info, settings, deadline)
        if json_out:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(figures, indent=2, default=str))
        return EXIT_OK
    except KeyboardInterrupt:
        console.print("[red]Interrupted; the emulator and the model server were stopped.[/]")
        return EXIT_INTERRUPTED
    except Exception as exc:
        failure = f"{type(exc).__name__}: {exc}"
        console.print(f"[red bold]The run failed: {escape(failure)}[/]")
        console.print(f"Logs: {BENCH_LOG_DIR.relative_to(ROOT)}/")
        return EXIT_NOT_RUN
