"""One instance's capacity (issue 13, part 3): K concurrent 40-question jobs in one worker
process, and where it saturates.

    .venv/bin/python -m benchmarks.capacity                      # K = 1, 2, 5, 10, 15, 20, …
    .venv/bin/python -m benchmarks.capacity --max-jobs 20 --json-out .dev/bench/capacity.json

The script starts its own Firestore emulator and offline model server (its default pace) as
benchmarks/worker_stream.py does, plus ONE worker process: functions-framework serving
process_job, as the local stack starts it, on free loopback ports, project
demo-qgen-bench-capacity, logs under .dev/logs/bench-capacity/; all stopped at the end, also on
errors, Ctrl-C, SIGTERM and --timeout. Jobs are created by the real JobService in this process
and delivered to the worker as Cloud Tasks would (POST {jobId}), K at once; a raw Firestore
Listen stream per job (capacity_sweep/light_listener.py) notes when each question document
reaches a client. A round's K deliveries are released together, or one every 1/--dispatch-rate
s (the queue's rate limit).

Sweep: K = 1, 2, 5, 10, 15, 20, 30, 40, … until the pooled p95 of model-finished -> listener
has doubled against K = 1 (K = 10 is measured in any case), --max-jobs, or --timeout.

Goals at K = 10 (issue 13): each job's model-finished -> listener p50 <= 100 ms, and each
job's wall time / model stream time <= 1.1. Missing a goal is reported with its figure, not an
error. Exit status: 0 the run was carried out, 2 it could not be (the stack did not start, a
warm-up job failed, --timeout), 130 interrupted.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import typer
from rich.console import Console

from benchmarks.capacity_sweep.plan import Plan
from benchmarks.capacity_sweep.run import run
from benchmarks.interrupts import raise_interrupt

cli = typer.Typer(add_completion=False, help=__doc__, rich_markup_mode=None)


@cli.command()
def main(
    questions: int = typer.Option(40, min=1, max=78, help="max_questions_per_job."),
    max_jobs: int = typer.Option(40, min=1, max=200, help="The sweep's largest K."),
    min_jobs: int = typer.Option(
        3, min=1, help="Each K runs in rounds until this many jobs were measured (K = 1: 3)."
    ),
    threads: int | None = typer.Option(
        None, min=1, help="The worker's gunicorn THREADS (default: --max-jobs)."
    ),
    dispatch_rate: float = typer.Option(
        0.0,
        min=0.0,
        help="Deliveries per second, as the queue's rate limit (infra default 5); 0: all at once.",
    ),
    warmup: bool = typer.Option(True, help="One uncounted round of 2 jobs at pace 0 first."),
    timeout: float = typer.Option(900.0, min=60.0, help="Seconds the whole run may take."),
    json_out: str | None = typer.Option(None, help="Also write the figures to this JSON file."),
) -> None:
    """Measure one worker process against issue 13's capacity goal, and where it saturates."""
    console = Console(width=None if sys.stdout.isatty() else 160)
    deadline = time.monotonic() + timeout
    signal.signal(signal.SIGTERM, raise_interrupt)
    plan = Plan(questions, max_jobs, min_jobs, threads or max_jobs, dispatch_rate, warmup, timeout)
    raise typer.Exit(run(console, plan, Path(json_out) if json_out else None, deadline))


if __name__ == "__main__":
    cli()
