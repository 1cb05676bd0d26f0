"""The stack under load: a private one started for the run, or one that is already up."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console

from benchmarks.interrupts import signals_deferred
from benchmarks.job_creation.model import Limits, Target
from dev.stack import ROOT, STATE_DIR, Stack, StackConfig, StackError, free_port

BENCH_PROJECT = "demo-qgen-bench"
BENCH_LOG_DIR = STATE_DIR / "logs" / "bench"
# The ports of a private stack, in this order.
PIECES = ("firestore", "tasks", "api", "worker", "cleanup")
LOCK_TIMEOUT_MARK = "Operation failed: Transaction lock timeout"


def distinct_free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def private_config(
    ports: dict[str, int], limits: Limits, api_workers: int, api_threads: int | None
) -> StackConfig:
    return StackConfig(
        project_id=BENCH_PROJECT,
        firestore_port=ports["firestore"],
        tasks_port=ports["tasks"],
        api_port=ports["api"],
        worker_port=ports["worker"],
        cleanup_port=ports["cleanup"],
        log_dir=BENCH_LOG_DIR,
        function_env={
            **limits.function_env(),
            # Production's reading of the project's spend (at most every 10 s per instance;
            # Settings' default, infra leaves it): the local stack reads it at every admission
            # so its tests see the ceiling at once, which is not the path being measured.
            "SPEND_READING_MAX_AGE_SECONDS": "10",
            # functions-framework's gunicorn: processes, and threads in each.
            "WORKERS": str(api_workers),
            **({"THREADS": str(api_threads)} if api_threads else {}),
        },
    )


def gunicorn_threads(stack: Stack) -> int:
    # functions-framework's default: one gunicorn worker with 4 threads per CPU.
    configured = stack.function_env().get("THREADS") or os.environ.get("THREADS")
    return int(configured or 0) or (os.cpu_count() or 1) * 4


@contextlib.contextmanager
def target_stack(
    api_url: str | None,
    project: str | None,
    firestore_host: str | None,
    limits: Limits,
    console: Console,
    *,
    api_workers: int = 1,
    api_threads: int | None = None,
) -> Iterator[Target]:
    """The stack at --api-url, or a private one that is stopped when the block ends."""
    if api_url:
        if not (project and firestore_host):
            raise StackError("--api-url needs --project and --firestore too")
        yield Target(api_url.rstrip("/"), project, firestore_host, own_stack=False)
        return
    ports = dict(zip(PIECES, distinct_free_ports(len(PIECES)), strict=True))
    config = private_config(ports, limits, api_workers, api_threads)
    console.print(
        f"Starting a private stack (project {config.project_id}, ports "
        + ", ".join(f"{n} {p}" for n, p in ports.items())
        + f"; logs in {config.log_dir.relative_to(ROOT)}) …"
    )
    started = time.monotonic()
    stack = Stack(config)
    try:
        # An interrupt that lands inside subprocess.Popen would orphan the child it is
        # starting (the stack only learns of a process once Popen returns), so Ctrl-C and
        # SIGTERM wait until the stack is up, or down.
        with signals_deferred(console):
            stack.start()
        console.print(f"Stack up in {time.monotonic() - started:.1f} s.")
        yield Target(
            config.api_url,
            config.project_id,
            config.firestore_address,
            own_stack=True,
            api_threads=gunicorn_threads(stack),
            api_workers=api_workers,
            ports=ports,
            firestore_log=config.log_dir / "firestore.log",
        )
    finally:
        console.print("Stopping the private stack …")
        with signals_deferred(console):
            stack.stop()


def lock_timeouts(log: Path | None) -> int | None:
    """How many transaction lock timeouts the Firestore emulator has logged so far."""
    if log is None:
        return None
    try:
        with log.open(errors="replace") as handle:
            return sum(1 for line in handle if LOCK_TIMEOUT_MARK in line)
    except OSError:
        return None
