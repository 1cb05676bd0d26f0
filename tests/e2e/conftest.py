"""The whole local stack, started once per test session on free ports."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import httpx
import pytest

from dev.stack import STATE_DIR, Stack, StackConfig, free_port
from dev.tokens import emulator_id_token
from tests.conftest import PROJECT_ID


@pytest.fixture(scope="session")
def stack(emulator_address: str) -> Iterator[Stack]:
    config = StackConfig(
        project_id=PROJECT_ID,
        firestore_host=emulator_address,
        tasks_port=free_port(),
        api_port=free_port(),
        worker_port=free_port(),
        cleanup_port=free_port(),
        model_port=free_port(),
        model_pace_ms=2,
        gemini_api_key="",
        log_dir=STATE_DIR / "logs" / "e2e",
    )
    with Stack(config) as running:
        yield running


def bearer(uid: str, project_id: str = PROJECT_ID) -> dict[str, str]:
    return {"Authorization": f"Bearer {emulator_id_token(uid, project_id=project_id)}"}


class RecordingWorker(BaseHTTPRequestHandler):
    """Stands where the worker would: answers 200 to every task and remembers it."""

    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.received.append({"headers": headers, "body": body, "path": self.path})
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def parked_worker() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A worker URL that only records tasks, so API tests see jobs stay pending."""
    received: list[dict[str, Any]] = []
    handler = type("Recorder", (RecordingWorker,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", received
    server.shutdown()


class ApiSpawner:
    """Extra api functions next to the stack, with some settings overridden."""

    def __init__(self, stack: Stack, default_env: dict[str, str]) -> None:
        self._stack = stack
        self._default_env = default_env
        self._extras: list[Stack] = []

    def __call__(self, **env: str) -> str:
        return self.function("api", **env)[0]

    def function(self, target: str, port: int | None = None, **env: str) -> tuple[str, Stack]:
        """Start one more function (api or process_job); returns its URL and its owner."""
        merged = {**self._default_env, **{k.upper(): v for k, v in env.items()}}
        port = port or free_port()
        config = dataclasses.replace(self._stack.config, function_env=merged)
        extra = Stack(config)
        self._extras.append(extra)
        extra.start_function(f"{target}-{port}", target, port)
        return config.url(port) + "/", extra

    def stop(self) -> None:
        for extra in self._extras:
            extra.stop()


@pytest.fixture(scope="session")
def parked_api_url(stack: Stack, parked_worker: tuple[str, list[dict[str, Any]]]) -> Iterator[str]:
    spawner = ApiSpawner(stack, {"WORKER_URL": parked_worker[0]})
    yield spawner()
    spawner.stop()


@pytest.fixture(scope="module")
def spawner(stack: Stack) -> Iterator[ApiSpawner]:
    """Extra functions wired to the stack's emulators, with settings overridden per call."""
    spawned = ApiSpawner(stack, {})
    yield spawned
    spawned.stop()


@pytest.fixture(scope="module")
def spawn_api(
    stack: Stack, parked_worker: tuple[str, list[dict[str, Any]]]
) -> Iterator[Callable[..., str]]:
    """Start an extra api function (tasks parked unless WORKER_URL is given); returns its URL."""
    spawner = ApiSpawner(stack, {"WORKER_URL": parked_worker[0]})
    yield spawner
    spawner.stop()


@pytest.fixture
def api(parked_api_url: str, db: Any) -> Iterator[httpx.Client]:
    """The api function (its tasks go to a recorder, not the worker), on an emptied database."""
    with httpx.Client(base_url=parked_api_url, timeout=60) as client:
        yield client


@pytest.fixture
def live_api(stack: Stack, db: Any) -> Iterator[httpx.Client]:
    """The stack's own api function: its tasks reach the real worker and the offline model."""
    with httpx.Client(base_url=stack.config.api_url, timeout=60) as client:
        yield client
