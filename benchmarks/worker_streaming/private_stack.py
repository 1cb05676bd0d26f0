"""The run's own Firestore emulator and offline model server, on free loopback ports."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from benchmarks.worker_streaming.model import BENCH_LOG_DIR, BENCH_PROJECT
from dev.model_server.client import AdminClient
from dev.stack import Stack, StackConfig, StackError, free_port, start_firestore


@dataclass
class BenchStack:
    firestore: str
    model_url: str
    stack: Stack


def start_emulator(stack: Stack) -> int:
    """The Firestore emulator on a free port; its port."""
    for attempt in range(3):  # another process may take the free port first
        port = free_port()
        try:
            start_firestore(stack, "127.0.0.1", port)
            return port
        except StackError:
            stack.stop()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def start_model_server(stack: Stack) -> str:
    """The offline model server, with its own defaults, on a free port once it answers; its
    URL. Each run sets its configuration through the admin API."""
    port = free_port()
    argv = [sys.executable, "-m", "dev.model_server", "--host", "127.0.0.1", "--port", str(port)]
    model = stack.spawn("model", [*argv, "--quiet"])
    model_url = f"http://127.0.0.1:{port}"
    admin, deadline = AdminClient(model_url), time.monotonic() + 30
    while not admin.healthy():
        if model.process.poll() is not None or time.monotonic() > deadline:
            raise StackError(f"offline model server did not start; see {model.log_path}")
        time.sleep(0.1)
    return model_url


@contextlib.contextmanager
def bench_stack(
    console: Console, project: str = BENCH_PROJECT, log_dir: Path = BENCH_LOG_DIR
) -> Iterator[BenchStack]:
    """Firestore emulator + offline model server on free ports; both stopped on the way out.
    Anything else started on the yielded stack (another benchmark's worker) is stopped too.

    dev.stack.firestore_emulator() would log to .dev/logs/tests/firestore.log, the file of a
    test session that may be running; the same start_firestore() with our own log directory.
    """
    stack = Stack(StackConfig(project_id=project, log_dir=log_dir))
    log_dir.mkdir(parents=True, exist_ok=True)
    try:
        port = start_emulator(stack)
        model_url = start_model_server(stack)
        console.print(f"Firestore emulator on 127.0.0.1:{port}, offline model on {model_url}.")
        yield BenchStack(f"127.0.0.1:{port}", model_url, stack)
    finally:
        stack.stop()
