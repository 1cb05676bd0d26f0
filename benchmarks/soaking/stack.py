"""The soak's own stack on free loopback ports: Firestore emulator (or a given one), the queue
(queue_shim.py), the offline model, the api, N worker processes behind the proxy, the cleanup.

Every process is started by dev.stack (its own process group, its output in a log file of
its own); a worker's every incarnation gets a new log file, so the logs of a killed one are
kept for the checks. Nothing listens on the fixed dev ports.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.environment import TASKS_PYTHON
from benchmarks.soaking.cpu import GroupCpu
from benchmarks.soaking.options import LEASE_SECONDS, MAX_ATTEMPTS, SoakOptions
from benchmarks.soaking.proxy import WorkerProxy
from dev.model_server.client import AdminClient
from dev.stack import Managed, Stack, StackConfig, StackError, free_port, start_firestore

SHIM = Path(__file__).with_name("queue_shim.py")


@dataclass
class WorkerSlot:
    """One worker 'instance': a port, and the process now serving it (None while restarting)."""

    index: int
    port: int
    managed: Managed | None = None
    incarnation: int = 0
    cpu: GroupCpu = field(default_factory=GroupCpu)


class SoakStack:
    def __init__(self, project_id: str, log_dir: Path, options: SoakOptions) -> None:
        self.options = options
        self.proxy = WorkerProxy(self.live_ports)
        self.config = StackConfig(
            project_id=project_id,
            tasks_port=free_port(),
            api_port=free_port(),
            worker_port=self.proxy.port,
            cleanup_port=free_port(),
            model_port=free_port(),
            gemini_api_key="",
            log_dir=log_dir,
            function_env=options.function_env(),
        )
        self.stack = Stack(self.config)
        self.slots = [WorkerSlot(i, free_port()) for i in range(options.workers)]
        self.lock = threading.Lock()
        # Log file stem of each killed worker process -> when it was SIGKILLed.
        self.kills: dict[str, datetime] = {}

    def start(self, firestore_host: str | None) -> None:
        c = self.config
        c.log_dir.mkdir(parents=True, exist_ok=True)
        if firestore_host is None:
            port = free_port()
            start_firestore(self.stack, c.host, port)
            firestore_host = f"{c.host}:{port}"
        c.firestore_host = firestore_host
        self._start_queue()
        self._start_model()
        self.proxy.start()
        with ThreadPoolExecutor(len(self.slots) + 2) as pool:
            starts = [pool.submit(self.stack.start_function, "api", "api", c.api_port)]
            starts.append(
                pool.submit(self.stack.start_function, "cleanup", "cleanup_jobs", c.cleanup_port)
            )
            starts += [pool.submit(self.start_worker, slot) for slot in self.slots]
            for started in starts:
                started.result()

    def stop(self) -> None:
        self.proxy.stop()
        self.stack.stop()

    # ----- pieces ----------------------------------------------------------------------

    def _start_queue(self) -> None:
        c = self.config
        argv = [str(TASKS_PYTHON), str(SHIM), "--port", str(c.tasks_port), "--queue", c.queue_path]
        argv += ["--concurrency", str(self.options.queue_concurrency)]
        # infra/tasks.tf: min_backoff >= LEASE_SECONDS, max_attempts = MAX_ATTEMPTS.
        argv += ["--min-backoff", str(LEASE_SECONDS), "--max-backoff", "60"]
        argv += ["--max-attempts", str(MAX_ATTEMPTS)]
        managed = self.stack.spawn("queue", argv)
        _wait_for(lambda: "queue shim on" in _read(managed.log_path), managed, "queue shim")

    def _start_model(self) -> None:
        c, o = self.config, self.options
        argv = [sys.executable, "-m", "dev.model_server", "--host", c.host]
        argv += ["--port", str(c.model_port), "--pace-ms", str(o.pace_ms)]
        argv += ["--first-chunk-ms", str(o.first_chunk_ms), "--seed", str(o.seed), "--quiet"]
        managed = self.stack.spawn("model", argv)
        _wait_for(AdminClient(c.model_url).healthy, managed, "offline model")

    def start_worker(self, slot: WorkerSlot) -> None:
        slot.incarnation += 1
        name = f"worker{slot.index}-{slot.incarnation:02d}"
        self.stack.start_function(name, "process_job", slot.port)
        managed = next(m for m in self.stack.processes if m.name == name)
        with self.lock:
            slot.managed = managed
        slot.cpu.follow(managed.process.pid)

    def kill_worker(self, slot: WorkerSlot) -> None:
        """SIGKILL the worker's whole process group (no goodbye), then forget it."""
        with self.lock:
            managed, slot.managed = slot.managed, None
        if managed is None:
            return
        slot.cpu.sample()
        os.killpg(managed.process.pid, signal.SIGKILL)
        killed_at = datetime.now(UTC)
        managed.process.wait(timeout=10)
        with self.lock:
            self.stack.processes.remove(managed)
            self.kills[managed.name] = killed_at
        # The group's leader is reaped at once; its gunicorn child lets go of the port a
        # moment later, and a restart before that would find the port taken.
        deadline = time.monotonic() + 10
        while _listening(slot.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def live_ports(self) -> list[int]:
        with self.lock:
            return [s.port for s in self.slots if s.managed is not None]

    def worker_url(self, slot: WorkerSlot) -> str:
        return self.config.url(slot.port) + "/"

    def function_logs(self) -> list[Path]:
        """Every log file a function wrote (api, cleanup, each worker incarnation)."""
        logs = self.config.log_dir.glob("*.log")
        return sorted(p for p in logs if p.name.startswith(("worker", "api", "cleanup")))


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _wait_for(ready: Callable[[], bool], managed: Managed, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if managed.process.poll() is not None or time.monotonic() > deadline:
            raise StackError(f"{what} did not start; see {managed.log_path}")
        time.sleep(0.1)
