"""Cloud Tasks for the soak: gcloud-tasks-emulator's gRPC API with Cloud Tasks' dispatching.

    .venv-tasks/bin/python benchmarks/soaking/queue_shim.py --port P --queue projects/…/queues/q

Run by the emulator's own interpreter (.venv-tasks: it pins protobuf<5), so this file imports
nothing from the project. The emulator as shipped sends one task at a time per queue and waits
for its answer — a whole job — so a soak through it would run one job at a time; it retries a
failed task at once, and it creates a second task under a name that exists. The service is
built against Cloud Tasks as infra/tasks.tf configures it, so this keeps the emulator's gRPC
servicer and queue state and replaces only those three behaviours:

- up to --concurrency dispatches in flight at once (max_concurrent_dispatches);
- a failed attempt (non-2xx, connection error) is retried after --min-backoff seconds,
  doubling up to --max-backoff, at most --max-attempts attempts (retry_config);
- a task name already used answers ALREADY_EXISTS (Cloud Tasks keeps a name for about an hour
  after its task is gone; here for the life of the process).

A task's schedule_time is honoured. Each dispatch outcome is printed as one line.
"""

from __future__ import annotations

import argparse
import importlib
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib import error

# How long one dispatch may take before it counts as failed (Cloud Tasks' dispatch deadline).
DISPATCH_DEADLINE_SECONDS = 300


class Dispatcher:
    def __init__(self, state: Any, queue: str, args: argparse.Namespace, emulator: Any) -> None:
        self.state, self.queue, self.args, self.emulator = state, queue, args, emulator
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(args.concurrency)
        self.in_flight: set[int] = set()  # id() of tasks being dispatched
        self.not_before: dict[int, float] = {}  # id() -> epoch seconds of the next attempt
        self.names: set[str] = set()

    def create_task(self, original: Any) -> Any:
        """QueueState.create_task, refusing a name that was used before."""
        already_exists = importlib.import_module("google.api_core.exceptions").AlreadyExists

        def create(state: Any, queue: str, task: Any) -> Any:
            with self.lock:
                if task.name and task.name in self.names:
                    raise already_exists(f"Task {task.name} already exists.")
                if task.name:
                    self.names.add(task.name)
                return original(state, queue, task)

        return create

    def loop(self) -> None:
        while True:
            for task in self._due():
                self.pool.submit(self._dispatch, task)
            time.sleep(0.05)

    def _due(self) -> list[Any]:
        now = time.time()
        due: list[Any] = []
        with self.lock:
            free = self.args.concurrency - len(self.in_flight)
            for task in self.state._queue_tasks.get(self.queue, []):
                if len(due) >= free:
                    break
                eta = task.schedule_time.timestamp() if task.schedule_time else 0.0
                if id(task) in self.in_flight or max(eta, self.not_before.get(id(task), 0)) > now:
                    continue
                self.in_flight.add(id(task))
                due.append(task)
        return due

    def _dispatch(self, task: Any) -> None:
        task.dispatch_count += 1
        try:
            with self.emulator._make_task_request(self.queue, task, "", 0) as response:
                response.read()
                status = response.status
        except error.HTTPError as exc:
            status = exc.code
        except Exception as exc:  # a refused or cut connection is a failed attempt
            status = f"error {type(exc).__name__}"
        self._settle(task, status)

    def _settle(self, task: Any, status: int | str) -> None:
        attempt = task.dispatch_count
        done = isinstance(status, int) and 200 <= status < 300
        with self.lock:
            self.in_flight.discard(id(task))
            if done or attempt >= self.args.max_attempts:
                tasks = self.state._queue_tasks[self.queue]
                tasks[:] = [t for t in tasks if t is not task]
                self.not_before.pop(id(task), None)
                verdict = "done" if done else "given up"
            else:
                backoff = min(self.args.max_backoff, self.args.min_backoff * 2 ** (attempt - 1))
                self.not_before[id(task)] = time.time() + backoff
                verdict = f"retry in {backoff:g} s"
        name = task.name.rsplit("/", 1)[-1]
        print(f"dispatch {name} attempt {attempt} -> {status}: {verdict}", flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--queue", required=True, help="projects/P/locations/L/queues/Q")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--min-backoff", type=float, default=10.0)
    parser.add_argument("--max-backoff", type=float, default=60.0)
    parser.add_argument("--max-attempts", type=int, default=5)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    socket.setdefaulttimeout(DISPATCH_DEADLINE_SECONDS)
    # Imported by name: these live only in .venv-tasks, which the project's type check lacks.
    emulator = importlib.import_module("gcloud_tasks_emulator.server")
    queue_type = importlib.import_module("google.cloud.tasks_v2").Queue
    state = emulator.QueueState("localhost", 80, -1)
    dispatcher = Dispatcher(state, args.queue, args, emulator)
    state.create_task = dispatcher.create_task(emulator.QueueState.create_task).__get__(state)
    state.create_queue(args.queue.rsplit("/", 2)[0], queue_type(name=args.queue))
    api = emulator.APIThread(state, "localhost", args.port, daemon=True)
    api.start()
    print(f"queue shim on localhost:{args.port} for {args.queue}", flush=True)
    dispatcher.loop()


if __name__ == "__main__":
    main()
