"""`python -m dev.stack`: starts every piece, and leaves nothing behind when stopped."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from dev.stack import ROOT, free_port

pytestmark = pytest.mark.e2e

PORT_NAMES = ("FIRESTORE", "TASKS", "API", "WORKER", "CLEANUP", "MODEL")


def stack_env(tmp_path: Path) -> tuple[dict[str, str], dict[str, int]]:
    ports = {name: free_port() for name in PORT_NAMES}
    env = {**os.environ, "DEV_STACK_STATE": str(tmp_path / "stack.json"), "GEMINI_API_KEY": ""}
    env.update({f"DEV_{name}_PORT": str(port) for name, port in ports.items()})
    return env, ports


def port_open(port: int) -> bool:
    for host in ("127.0.0.1", "localhost"):
        with socket.socket() as sock:
            sock.settimeout(0.3)
            if sock.connect_ex((host, port)) == 0:
                return True
    return False


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline and "pytest" not in cmdline:
            found.append(int(entry.name))
    return found


def assert_nothing_left(ports: dict[str, int]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if not any(port_open(p) for p in ports.values()) and not processes_mentioning(
            f"--port={ports['FIRESTORE']}"
        ):
            return
        time.sleep(0.2)
    still = {n: p for n, p in ports.items() if port_open(p)}
    raise AssertionError(f"left behind: ports {still}, java {processes_mentioning('--port=')}")


def test_foreground_stack_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    env, ports = stack_env(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "dev.stack", "up"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            if "Stack ready" in line or not line:
                break
        output = "".join(lines)
        assert "Stack ready" in output, output
        assert f"http://127.0.0.1:{ports['API']}" in output
        health = httpx.get(f"http://127.0.0.1:{ports['API']}/healthz")
        assert health.json() == {"status": "ok"}
        assert processes_mentioning(f"--port={ports['FIRESTORE']}"), "java emulator not running"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert_nothing_left(ports)


def test_detached_stack_is_stopped_by_down(tmp_path: Path) -> None:
    env, ports = stack_env(tmp_path)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dev.stack", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )

    started = run("up", "--detach")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        state = json.loads((tmp_path / "stack.json").read_text())
        assert set(state["pids"]) == {"firestore", "tasks", "model", "api", "worker", "cleanup"}
        assert run("up", "--detach").returncode == 1, "a second stack must refuse to start"
        status = run("status")
        assert status.stdout.count("running") == 6, status.stdout
        assert httpx.get(f"http://127.0.0.1:{ports['API']}/healthz").status_code == 200
    finally:
        stopped = run("down")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    for pid in state["pids"].values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not (tmp_path / "stack.json").exists()
    assert_nothing_left(ports)
