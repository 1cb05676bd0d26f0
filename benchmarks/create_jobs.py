"""Job creation under parallel load: latency, throughput, and proof of no over-admission.

    .venv/bin/python -m benchmarks.create_jobs                       # own stack, defaults
    .venv/bin/python -m benchmarks.create_jobs --users 10 --requests-per-user 10
    .venv/bin/python -m benchmarks.create_jobs --shared-ip-users 10 --ip-rate-limit 20
    .venv/bin/python -m benchmarks.create_jobs --api-url http://127.0.0.1:8081 \\
        --project demo-qgen --firestore 127.0.0.1:8180          # a stack that is already up

By default a private stack (Firestore emulator, Cloud Tasks emulator, the three functions) is
started on free loopback ports under the project id ``demo-qgen-bench`` and stopped at the end,
also on errors and Ctrl-C. Every simulated user sends all of its POST /jobs at once (requests
are queued user by user, so a user's requests race each other), each user with its own
X-Forwarded-For address; ``--shared-ip-users`` adds users that all share one address.

Afterwards Firestore is read directly (admin client against the emulator) to assert that no
user holds more active jobs than the limit, that every 202 has exactly one active job document
and vice versa, that the per-user counters and the rate-limit windows agree with the documents.
The exit status is 0 when every check passes, 1 when one fails, 2 when the run could not be
carried out at all, 130 on Ctrl-C.
"""

from __future__ import annotations

import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import typer
from rich.console import Console
from rich.markup import escape

from benchmarks.environment import code_version, load_average
from benchmarks.interrupts import raise_interrupt
from benchmarks.job_creation.model import (
    DEFAULT_IP_RATE_LIMIT,
    DEFAULT_MAX_ACTIVE,
    DEFAULT_USER_RATE_LIMIT,
    EXIT_INTERRUPTED,
    EXIT_NOT_RUN,
    Baseline,
    Limits,
    Plan,
)
from benchmarks.job_creation.private_stack import target_stack
from benchmarks.job_creation.run import run
from dev.stack import StackError

cli = typer.Typer(add_completion=False, help=__doc__, rich_markup_mode=None)


@cli.command()
def main(
    users: int = typer.Option(30, min=1, max=5000, help="Simulated users, each with its own IP."),
    requests_per_user: int = typer.Option(
        5, min=1, max=100, help="POST /jobs per user, all sent at once."
    ),
    shared_ip_users: int = typer.Option(
        0, min=0, max=5000, help="Extra users that all share one X-Forwarded-For address."
    ),
    concurrency: int = typer.Option(32, min=1, max=256, help="Client threads."),
    timeout: float = typer.Option(
        300.0,
        min=5.0,
        help="Seconds the whole run may take; requests not sent by then count as failures.",
    ),
    request_timeout: float = typer.Option(60.0, min=1.0, help="Seconds per request at most."),
    max_active: int = typer.Option(
        DEFAULT_MAX_ACTIVE, min=1, help="Active-job limit per user (set on a private stack)."
    ),
    user_rate_limit: int = typer.Option(
        DEFAULT_USER_RATE_LIMIT, min=1, help="Jobs per user per window (set on a private stack)."
    ),
    ip_rate_limit: int = typer.Option(
        DEFAULT_IP_RATE_LIMIT, min=1, help="Jobs per IP per window (set on a private stack)."
    ),
    api_url: str | None = typer.Option(
        None, help="Use the running stack whose api function is at this URL."
    ),
    project: str | None = typer.Option(None, help="Project id of that stack."),
    firestore: str | None = typer.Option(None, help="host:port of that stack's emulator."),
    api_workers: int = typer.Option(
        1, min=1, max=8, help="gunicorn worker processes of each function (private stack)."
    ),
    api_threads: int | None = typer.Option(
        None, min=1, max=256, help="Threads per worker (private stack; default 4 per CPU)."
    ),
    json_out: str | None = typer.Option(None, help="Also write the figures to this JSON file."),
) -> None:
    """Measure POST /jobs under parallel load and assert no over-admission."""
    console = Console(width=None if sys.stdout.isatty() else 140)
    started_at = datetime.now(UTC)
    deadline = time.monotonic() + timeout
    signal.signal(signal.SIGTERM, raise_interrupt)
    baseline = Baseline(started_at, deadline, load=load_average(), code=code_version())
    plan = Plan(users, requests_per_user, shared_ip_users, concurrency, request_timeout, timeout)
    limits = Limits(max_active, user_rate_limit, ip_rate_limit)
    stack = target_stack(
        api_url,
        project,
        firestore,
        limits,
        console,
        api_workers=api_workers,
        api_threads=api_threads,
    )
    try:
        with stack as target:
            status = run(
                console, target, limits, plan, baseline, Path(json_out) if json_out else None
            )
    except KeyboardInterrupt:
        console.print("[red]Interrupted; the stack (if this run started one) was stopped.[/]")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except (StackError, httpx.HTTPError, RuntimeError) as exc:
        console.print(f"[red]The benchmark could not run: {escape(str(exc))}[/]")
        raise typer.Exit(EXIT_NOT_RUN) from exc
    raise typer.Exit(status)


if __name__ == "__main__":
    cli()
