"""The worker while it streams: question visibility delay, overhead, Firestore traffic.

    .venv/bin/python -m benchmarks.worker_stream                     # 40 questions, 40 ms pace
    .venv/bin/python -m benchmarks.worker_stream --pace-ms 10 --runs 3

The script starts its own Firestore emulator and offline model server
(``python -m dev.model_server --quiet``) on free loopback ports, project ``demo-qgen-bench-worker``,
logs under ``.dev/logs/bench-worker/``, and stops both at the end, also on errors, Ctrl-C,
SIGTERM and ``--timeout``. The real ``WorkerService`` runs in this process against the real
``GeminiModel`` (google-genai over HTTP/SSE) and the real Firestore unit of work and job reader,
whose ``firestore.Client`` talks to the emulator through a counting gRPC interceptor.

Per run, one job for the prompt "NATO alphabet" (the deck has 78 questions; the worker clamps
the model's estimate to ``--questions``, which is set as ``max_questions_per_job``) is processed
by the worker, and the same stream (same request, so the same chunks and question texts) is
then consumed by "the original pattern": for every finished question one insert of the
question document and one update of the job's progress (separate commits), and a read of the
job's status every 10 questions, through the same counting channel; plus one update each for
"processing", the plan (topic, estimatedTotal) and "completed", where the worker has its claim,
plan and completion transactions.

Measured:
  (a) delay from the model server writing the chunk that closes a question (its ``sentAt``) to
      a Firestore listener on a separate client seeing that question document (goal: p50
      <= 100 ms);
  (b) job wall time / model stream time (goal: <= 1.05);
  (c) Firestore RPCs by method, documents read and written (goal: worker writes <= 0.6 x the
      original pattern's);
  (d) writes to the job document: the most in any 1-second window and the rate while
      streaming (goal: <= 1/s sustained).

Missing a goal is reported, not an error. Exit status: 0 the run was carried out, 2 it could
not be (the stack did not start, a job did not complete, the listener missed a question,
--timeout), 130 interrupted.
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
    pace_ms: int = typer.Option(40, min=0, help="Offline model: delay between streamed chunks."),
    runs: int = typer.Option(1, min=1, max=20, help="Measured runs of each pattern."),
    interval: float | None = typer.Option(
        None, min=0.0, help="progress_write_interval_seconds (default: the Settings default)."
    ),
    warmup: bool = typer.Option(True, help="One uncounted pass of each pattern first."),
    timeout: float = typer.Option(300.0, min=10.0, help="Seconds the whole run may take."),
    json_out: str | None = typer.Option(None, help="Also write the figures to this JSON file."),
) -> None:
    """Measure the worker's streaming saves against the original per-question pattern."""
    console = Console(width=None if sys.stdout.isatty() else 160)
    deadline = time.monotonic() + timeout
    signal.signal(signal.SIGTERM, raise_interrupt)
    plan = Plan(questions, pace_ms, runs, interval, warmup, timeout)
    raise typer.Exit(run(console, plan, Path(json_out) if json_out else None, deadline))


if __name__ == "__main__":
    cli()
