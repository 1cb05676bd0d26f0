"""The learner's device: the question listener in a process of its own.

A listener in the benchmark's own process (as this benchmark had it until 2026-11-30) shares
the worker's interpreter and took the GIL the worker's parser and writer were waiting for, so
the device's lag was charged to the service. In production the listener runs on the learner's
device. Here it runs in a child process on the same machine clock, one of two kinds:

- "listen" (the default): Firestore's Listen RPC read raw (capacity_sweep/light_listener.py),
  a question stamped with time.time() at the stream's first consistent point after its
  document arrived — when a client SDK raises the snapshot that holds it;
- "snapshot": google-cloud-firestore's on_snapshot (listener.py), stamped in its callback, after
  the Python SDK has rebuilt and sorted the snapshot: on the emulator, which RESETs the target
  and sends every document again on each commit, that is a whole result per commit, on the
  same two cores as the service under test.

It is driven over its stdin/stdout one JSON line at a time:

    {"op": "listen", "user": u}                       -> {"ok": true} once it is current
    {"op": "wait", "user": u, "count": n, "timeout": s} -> {"complete": bool, "seen": {text: t}}
    {"op": "close", "user": u}                        -> {"ok": true}

    python -m benchmarks.worker_streaming.listener_process PROJECT KIND  (FIRESTORE_EMULATOR_HOST)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from typing import IO, Any, Protocol

from google.cloud import firestore

from benchmarks.capacity_sweep.light_listener import LightListeners, QuestionStream
from benchmarks.worker_streaming.listener import QuestionListener
from benchmarks.worker_streaming.model import RunError
from dev.stack import ROOT


class RemoteListener:
    """QuestionListener's interface (wait_ready, wait_for, seen, close) for one user, served
    by the listener process."""

    def __init__(self, process: ListenerProcess, user_id: str) -> None:
        self._process, self._user = process, user_id
        self.seen: dict[str, float] = {}

    def wait_ready(self, timeout: float) -> None:
        self._process.call({"op": "listen", "user": self._user, "timeout": timeout})

    def wait_for(self, count: int, timeout: float) -> bool:
        answer = self._process.call(
            {"op": "wait", "user": self._user, "count": count, "timeout": timeout}
        )
        self.seen = {str(k): float(v) for k, v in answer["seen"].items()}
        return bool(answer["complete"])

    def close(self) -> None:
        self._process.call({"op": "close", "user": self._user})


class ListenerProcess:
    """The child process, started at once; ``stop`` ends it."""

    def __init__(self, project: str, kind: str = "listen") -> None:
        self._lock = threading.Lock()
        self._child = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.worker_streaming.listener_process", project, kind],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    @property
    def pid(self) -> int:
        return self._child.pid

    def listener(self, user_id: str) -> RemoteListener:
        return RemoteListener(self, user_id)

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            assert self._child.stdin is not None
            assert self._child.stdout is not None
            self._child.stdin.write(json.dumps(request) + "\n")
            self._child.stdin.flush()
            line = self._child.stdout.readline()
        if not line:
            raise RunError(f"the listener process ended (exit {self._child.poll()})")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RunError(f"listener process: {answer['error']}")
        return answer

    def stop(self) -> None:
        if self._child.stdin is not None:
            self._child.stdin.close()
        try:
            self._child.wait(10)
        except subprocess.TimeoutExpired:
            self._child.kill()
            self._child.wait(10)


class Listening(Protocol):
    seen: Any

    def wait_for(self, count: int, timeout: float) -> bool: ...

    def close(self) -> None: ...


class RawListener:
    """One learner's Listen stream, on the process's one channel."""

    def __init__(self, listeners: LightListeners, user_id: str, timeout: float) -> None:
        self._listeners = listeners
        self._stream: QuestionStream = listeners.listen("userId", user_id, timeout)

    @property
    def seen(self) -> dict[str, float]:
        return self._stream.seen

    def wait_for(self, count: int, timeout: float) -> bool:
        return self._stream.wait_for(count, timeout)

    def close(self) -> None:
        self._listeners.close(self._stream)


def opener(project: str, kind: str) -> Any:
    """A function (user, timeout) -> a listener that is current (its first snapshot came)."""
    if kind == "listen":
        raw = LightListeners(os.environ["FIRESTORE_EMULATOR_HOST"], project)
        return lambda user, timeout: RawListener(raw, user, timeout)
    if kind != "snapshot":
        raise SystemExit(f"unknown listener kind {kind!r}")
    db = firestore.Client(project=project)

    def snapshot(user: str, timeout: float) -> QuestionListener:
        listener = QuestionListener(db, user)
        listener.wait_ready(timeout)
        return listener

    return snapshot


def serve(project: str, kind: str, requests: IO[str], answers: IO[str]) -> None:
    open_listener = opener(project, kind)
    listeners: dict[str, Listening] = {}
    for line in requests:
        request = json.loads(line)
        user = str(request["user"])
        try:
            if request["op"] == "listen":
                listeners[user] = open_listener(user, float(request["timeout"]))
                answer: dict[str, Any] = {"ok": True}
            elif request["op"] == "wait":
                complete = listeners[user].wait_for(int(request["count"]), request["timeout"])
                answer = {"complete": complete, "seen": dict(listeners[user].seen)}
            else:
                listeners.pop(user).close()
                answer = {"ok": True}
        except Exception as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "listen", sys.stdin, sys.stdout)
