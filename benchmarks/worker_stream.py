"""The worker while it streams, against issue 9's goals, in one run on one machine.

    .venv/bin/python -m benchmarks.worker_stream                 # 40 questions, 2 runs per config
    .venv/bin/python -m benchmarks.worker_stream --runs 3 --json-out .dev/bench/worker.json

The script starts its own Firestore emulator and offline model server
(``python -m dev.model_server --quiet``, its default pace) on free loopback ports, project
``demo-qgen-bench-worker``, logs under ``.dev/logs/bench-worker/``, and stops both at the end,
also on errors, Ctrl-C, SIGTERM and ``--timeout``. The real ``WorkerService`` runs in this
process against the real ``GeminiModel`` (google-genai over HTTP/SSE, one streaming call per
attempt) and the real Firestore adapters, whose ``firestore.Client`` talks to the emulator
through a counting gRPC interceptor.

Three configurations of the offline model, in this order: "default" (its defaults: paceMs 40
between events, questionMs and firstChunkMs 0), "fast" (a question every --question-ms, 10),
and "ttft" (the default pace with --ttft-ms, 400, before the first event of every call; only
--ttft-questions, 10, per job: goal 3 is about the first question). --runs times, each
configuration in turn: a job for the prompt "NATO alphabet" (78 deck questions; the model plans
max_questions_per_job: --questions, 40) through the worker, then one through the seed's
original pattern (per question an insert and a job update) on the same stream, the baseline.

Goals (the worker's figures decide; the original pattern's are printed beside them):
  1. the model finished a question (its sentAt) -> visible to a Firestore listener in another
     process (the learner's device: listener_process.py; --listener listen, the default: a raw
     Listen stream at its next consistent point, when a client SDK would raise the snapshot;
     --listener snapshot: the on_snapshot callback): p50 <= 50 ms, p95 <= 150 ms, at
     the default pace and at a question every 10 ms;
  2. overhead = wall time of process() - model stream time: p50 <= 100 ms; wall / stream
     <= 1.05 at the default pace;
  3. job created -> first question visible <= the model's time to first question + 250 ms,
     with 400 ms TTFT;
  4. billed Firestore writes per job <= N + ceil(stream seconds) + 4, and the job document
     <= 1 write/s while streaming.

Missing a goal is reported with its figure, not an error. Exit status: 0 the run was carried
out, 2 it could not be (the stack did not start, a job did not complete, the listener missed a
question, --timeout), 130 interrupted.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import typer
from rich.console import Console

from benchmarks.interrupts import raise_interrupt
from benchmarks.worker_streaming.model import Plan
from benchmarks.worker_streaming.run import run

cli = typer.Typer(add_completion=False, help=__doc__, rich_markup_mode=None)


@cli.command()
def main(
    questions: int = typer.Option(
        40, min=1, max=78, help="max_questions_per_job (the NATO deck has 78)."
    ),
    runs: int = typer.Option(2, min=1, max=20, help="Runs of each pattern per configuration."),
    question_ms: int = typer.Option(
        10, min=1, help="The fast configuration: a question every this many ms (questionMs)."
    ),
    ttft_ms: int = typer.Option(
        400, min=0, help="The TTFT configuration: firstChunkMs on every model call."
    ),
    ttft_questions: int = typer.Option(
        10, min=1, max=78, help="The TTFT configuration's max_questions_per_job (≤ --questions)."
    ),
    interval: float | None = typer.Option(
        None, min=0.0, help="progress_write_interval_seconds (default: the Settings default)."
    ),
    warmup: bool = typer.Option(True, help="One uncounted pass of each pattern first."),
    listener: str = typer.Option(
        "listen",
        help="The learner's device: 'listen' (a raw Listen stream, seen at the stream's "
        "consistent point) or 'snapshot' (google-cloud-firestore's on_snapshot callback).",
    ),
    timeout: float = typer.Option(300.0, min=10.0, help="Seconds the whole run may take."),
    json_out: str | None = typer.Option(None, help="Also write the figures to this JSON file."),
) -> None:
    """Measure the worker against issue 9's goals, the original pattern beside it."""
    console = Console(width=None if sys.stdout.isatty() else 160)
    deadline = time.monotonic() + timeout
    signal.signal(signal.SIGTERM, raise_interrupt)
    if listener not in ("listen", "snapshot"):
        raise typer.BadParameter("--listener is 'listen' or 'snapshot'")
    plan = Plan(
        questions, runs, question_ms, ttft_ms, ttft_questions, interval, warmup, timeout, listener
    )
    raise typer.Exit(run(console, plan, Path(json_out) if json_out else None, deadline))


if __name__ == "__main__":
    cli()
