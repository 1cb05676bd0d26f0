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
from benchmarks.worker_streaming.measure import run_all
from benchmarks.worker_streaming.model import (
    BENCH_LOG_DIR,
    BENCH_PROJECT,
    EXIT_INTERRUPTED,
    EXIT_NOT_RUN,
    EXIT_OK,
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
    "(a) delay": "model server's sentAt (time.time() after the chunk closing the item was "
    "written) → time.time() in the on_snapshot callback of a second firestore.Client "
    "(own channel) listening to questions where generationJobId == job; matched by "
    "question text. Also split at the answer of the commit that wrote the question.",
    "(b) wall / stream": "wall: WorkerService.process() call to return. Stream: the model "
    "server's receivedAt of the streamGenerateContent request → sentAt of the last item "
    "(also → the final event, as received by the worker's model adapter: the finish "
    "reason arrives one pace after the text, and the parser cannot finish the last item "
    "before it).",
    "(c) traffic": "a grpc client interceptor on the worker's Firestore channel counts RPCs "
    "by method, documents in BatchGetDocuments (found) and RunQuery responses, and writes "
    "in successful Commit requests. Original pattern through the same channel, same "
    "stream: per question add() + update() (separate commits), status get() every "
    f"{ORIGINAL_STATUS_READ_EVERY}, plus processing / plan / completed updates.",
    "(d) job document": "successful commits with a write to the job document, at the time "
    "the commit was answered; most in any half-open 1 s window; while streaming (stream "
    "request received → final event): writes / that time, and the paced rate (n − 1) / "
    "(last − first write). Goal verdict: paced rate ≤ 1/s and never 2 in 1 s while "
    "streaming.",
}


def bench_settings(plan: Plan) -> Settings:
    overrides: dict[str, Any] = {"max_questions_per_job": plan.questions}
    if plan.interval is not None:
        overrides["progress_write_interval_seconds"] = plan.interval
    return Settings(project_id=BENCH_PROJECT, **overrides)


def setup_info(plan: Plan, settings: Settings, load_before: str, code: str) -> dict[str, str]:
    return {
        "date (UTC)": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        "command": "python -m benchmarks.worker_stream " + shlex.join(sys.argv[1:]),
        "machine": f"{os.cpu_count()} CPUs (nproc; {cpu_model()}), {platform.system()} "
        f"{platform.release()}, load avg before {load_before}",
        "python": platform.python_version(),
        "code": code,
        "emulator": f"Firestore emulator {firestore_emulator_version()}",
        "settings": f"job prompt {PROMPT!r}, max_questions_per_job {plan.questions}, "
        f"stream pace {plan.pace_ms} ms/chunk, progress_write_interval_seconds "
        f"{settings.progress_write_interval_seconds:g}, lease {settings.lease_seconds} s, "
        f"{plan.runs} run(s) of each pattern"
        + (", after one uncounted warm-up pass of each at pace 0" if plan.warmup else ""),
        **METHOD,
    }


def bench_env(settings: Settings, bench: BenchStack) -> Env:
    """Clients on the stack's emulator (FIRESTORE_EMULATOR_HOST must point at it)."""
    counter = RpcCounter()
    return Env(
        settings=settings,
        counter=counter,
        counted_db=CountedClient(project=BENCH_PROJECT, counter=counter),
        plain_db=firestore.Client(project=BENCH_PROJECT),
        admin=AdminClient(bench.model_url),
        model_url=bench.model_url,
    )


def run_before_deadline(
    env: Env, plan: Plan, console: Console, deadline: float
) -> dict[str, list[RunResult]]:
    """run_all in a daemon thread, given up on (RunError) at the deadline."""
    outcome: dict[str, Any] = {}

    def body() -> None:
        try:
            outcome["results"] = run_all(env, plan.runs, plan.warmup, console)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=body, name="bench", daemon=True)
    thread.start()
    thread.join(max(0.0, deadline - time.monotonic()))
    if thread.is_alive():
        raise RunError(f"not finished within --timeout {plan.timeout:.0f} s")
    if "error" in outcome:
        raise outcome["error"]
    results: dict[str, list[RunResult]] = outcome["results"]
    return results


def measure_on_stack(
    console: Console, plan: Plan, info: dict[str, str], settings: Settings, deadline: float
) -> dict[str, Any]:
    """Start the stack, run the series, print the setup and the report; the figures."""
    console.print("Starting a private Firestore emulator and offline model server …")
    with bench_stack(plan.pace_ms, console) as bench, firestore_emulator_host(bench.firestore):
        results = run_before_deadline(bench_env(settings, bench), plan, console, deadline)
        info["load after"] = load_average()
        console.print(setup_table(info))
        return report(console, results, info)


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
