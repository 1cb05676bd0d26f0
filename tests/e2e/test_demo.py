"""The README's main command (`make demo` runs `python -m dev.demo`) works from start to end."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from dev.stack import ROOT, free_port

pytestmark = pytest.mark.e2e


def test_demo_generates_nato_questions_and_leaves_nothing_running() -> None:
    ports = {
        f"DEV_{name}_PORT": str(free_port())
        for name in ("FIRESTORE", "TASKS", "API", "WORKER", "CLEANUP", "MODEL")
    }
    env = {**os.environ, **ports, "DEV_MODEL_PACE_MS": "5", "GEMINI_API_KEY": "", "COLUMNS": "200"}
    env.pop("FIRESTORE_EMULATOR_HOST", None)
    result = subprocess.run(
        [sys.executable, "-m", "dev.demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Job completed" in output
    assert "40 saved" in output
    assert "40 questions on NATO" in output
    assert "What is the NATO phonetic alphabet code word" in output
    assert "Stopping the local stack" in output
    for port in ports.values():
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", int(port))) != 0, f"port {port} still open"
