"""The offline model server, once per test session, for worker tests."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from dev.model_server.client import AdminClient
from dev.stack import ROOT, STATE_DIR, free_port


@pytest.fixture(scope="session")
def model_server_url() -> Iterator[str]:
    port = free_port()
    log_dir = STATE_DIR / "logs" / "tests"
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / "model.log").open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dev.model_server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--pace-ms",
                "0",
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    admin = AdminClient(url)
    deadline = time.monotonic() + 30
    while not admin.healthy():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"model server did not start; see {log_dir / 'model.log'}")
        time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def model_admin(model_server_url: str) -> AdminClient:
    admin = AdminClient(model_server_url)
    admin.reset()
    return admin
