"""The local cloud: Firestore emulator, Cloud Tasks emulator and the three functions.

    python -m dev.stack up            # foreground; Ctrl-C stops everything it started
    python -m dev.stack up --detach   # background; `down` stops it
    python -m dev.stack down
    python -m dev.stack status

Every process is started in its own session (process group) and stopped by that group, so no
Java or gunicorn worker outlives the stack.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import typer

from dev.foreground import StopRequest

ROOT = Path(__file__).resolve().parent.parent
FIRESTORE_JAR = Path(
    "/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar"
)
TASKS_EMULATOR = ROOT / ".venv-tasks" / "bin" / "gcloud-tasks-emulator"
FUNCTIONS_FRAMEWORK = Path(sys.executable).parent / "functions-framework"
STATE_DIR = ROOT / ".dev"
STATE_FILE = STATE_DIR / "stack.json"
# The Auth emulator itself is not needed: firebase-admin only checks that this is set to accept
# unsigned tokens, and clients mint those themselves (dev/tokens.py).
AUTH_EMULATOR_HOST = "127.0.0.1:9099"


@dataclass
class StackConfig:
    project_id: str = "demo-qgen"
    host: str = "127.0.0.1"
    firestore_port: int = 8180
    tasks_port: int = 9022
    api_port: int = 8081
    worker_port: int = 8082
    cleanup_port: int = 8083
    model_port: int = 8084
    # Delay between streamed chunks of the offline model, in milliseconds.
    model_pace_ms: int = 40
    # Real Gemini when set; otherwise the offline model server (dev/model_server) is started.
    gemini_api_key: str = field(default_factory=lambda: os.environ.get("GEMINI_API_KEY", ""))
    # An already running Firestore emulator (host:port) to use instead of starting one.
    firestore_host: str | None = None
    # Extra environment for the functions (limits, fault injection in tests).
    function_env: dict[str, str] = field(default_factory=dict)
    log_dir: Path = STATE_DIR / "logs"
    tasks_location: str = "us-central1"
    tasks_queue: str = "question-generation"

    @classmethod
    def from_env(cls) -> StackConfig:
        """Defaults, with any DEV_<PIECE>_PORT / DEV_MODEL_PACE_MS from the environment."""
        overrides = {
            name: int(os.environ[f"DEV_{name.upper()}"])
            for name in (
                "firestore_port",
                "tasks_port",
                "api_port",
                "worker_port",
                "cleanup_port",
                "model_port",
                "model_pace_ms",
            )
            if f"DEV_{name.upper()}" in os.environ
        }
        return cls(**overrides)

    @property
    def firestore_address(self) -> str:
        return self.firestore_host or f"{self.host}:{self.firestore_port}"

    @property
    def tasks_address(self) -> str:
        # gcloud-tasks-emulator binds "localhost" only.
        return f"localhost:{self.tasks_port}"

    @property
    def queue_path(self) -> str:
        return (
            f"projects/{self.project_id}/locations/{self.tasks_location}/queues/{self.tasks_queue}"
        )

    def url(self, port: int) -> str:
        return f"http://{self.host}:{port}"

    @property
    def api_url(self) -> str:
        return self.url(self.api_port)

    @property
    def worker_url(self) -> str:
        return self.url(self.worker_port) + "/"

    @property
    def cleanup_url(self) -> str:
        return self.url(self.cleanup_port) + "/"

    @property
    def model_url(self) -> str:
        return self.url(self.model_port)

    @property
    def offline_model(self) -> bool:
        return not self.gemini_api_key


class StackError(RuntimeError):
    pass


@dataclass
class Managed:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _http_ok(url: str, expect_body: str | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback only
            return expect_body is None or response.read().decode().strip() == expect_body
    except (urllib.error.URLError, OSError):
        return False


def _wait(
    what: str,
    ready: Callable[[], bool],
    process: subprocess.Popen[bytes],
    log: Path,
    timeout: float,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackError(f"{what} exited with {process.returncode}; see {log}")
        if ready():
            return
        time.sleep(0.1)
    raise StackError(f"{what} not ready after {timeout:.0f}s; see {log}")


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """Defer SIGINT/SIGTERM to the end of the block (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[tuple[int, object]] = []
    sigs = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda n, f: pending.append((n, f))) for sig in sigs}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    for signum, frame in pending[:1]:
        handler = previous[signum]
        if callable(handler):
            handler(signum, frame)
        elif handler == signal.SIG_DFL:
            signal.raise_signal(signum)


def stop_process_group(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM the whole group, then SIGKILL whatever is left (Java ignores nothing twice)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.05)


class Stack:
    """Starts the pieces in order and stops them in reverse; usable as a context manager."""

    def __init__(self, config: StackConfig | None = None) -> None:
        self.config = config or StackConfig()
        self.processes: list[Managed] = []

    # ----- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        c = self.config
        c.log_dir.mkdir(parents=True, exist_ok=True)
        if c.firestore_host is None:
            start_firestore(self, c.host, c.firestore_port)
        self.start_tasks_emulator()
        if c.offline_model:
            self.start_model_server()
        for name, target, port in (
            ("api", "api", c.api_port),
            ("worker", "process_job", c.worker_port),
            ("cleanup", "cleanup_jobs", c.cleanup_port),
        ):
            self.start_function(name, target, port)

    def stop(self) -> None:
        for managed in reversed(self.processes):
            stop_process_group(managed.process.pid)
            with contextlib.suppress(Exception):
                managed.process.wait(timeout=5)
        self.processes.clear()

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Managed:
        log_path = self.config.log_dir / f"{name}.log"
        log_file = log_path.open("wb")
        # A Ctrl-C that lands inside Popen (after the fork, before it returns) would leave a
        # child that stop() never learns of; hold it until the process is registered.
        with _interrupts_held():
            process = subprocess.Popen(
                argv,
                cwd=ROOT,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
            managed = Managed(name, process, log_path)
            self.processes.append(managed)
        log_file.close()
        return managed

    # ----- pieces --------------------------------------------------------------------------

    def start_tasks_emulator(self) -> None:
        c = self.config
        if not TASKS_EMULATOR.exists():
            raise StackError(
                f"{TASKS_EMULATOR} is missing; run `make venv` (it installs gcloud-tasks-emulator "
                "in its own virtualenv because it pins protobuf<5)."
            )
        if _port_open("127.0.0.1", c.tasks_port):
            raise StackError(f"port {c.tasks_port} is taken; is a stack already running?")
        managed = self.spawn(
            "tasks",
            [
                str(TASKS_EMULATOR),
                "start",
                "--port",
                str(c.tasks_port),
                "--default-queue",
                c.queue_path,
                # The emulator ignores the queue's retry config; bound its redeliveries anyway.
                "--max-retries",
                "5",
            ],
        )
        _wait(
            "Cloud Tasks emulator",
            lambda: _port_open("localhost", c.tasks_port),
            managed.process,
            managed.log_path,
            30,
        )

    def start_model_server(self) -> None:
        c = self.config
        if _port_open(c.host, c.model_port):
            raise StackError(f"port {c.model_port} is taken; is a stack already running?")
        managed = self.spawn(
            "model",
            [
                sys.executable,
                "-m",
                "dev.model_server",
                "--host",
                c.host,
                "--port",
                str(c.model_port),
                "--pace-ms",
                str(c.model_pace_ms),
            ],
        )
        _wait(
            "offline model server",
            lambda: _http_ok(c.model_url + "/_admin/stats"),
            managed.process,
            managed.log_path,
            30,
        )

    def function_env(self) -> dict[str, str]:
        c = self.config
        model_env = (
            {"GEMINI_API_KEY": "", "GEMINI_BASE_URL": c.model_url}
            if c.offline_model
            else {"GEMINI_API_KEY": c.gemini_api_key}
        )
        return {
            **model_env,
            # The Cloud Tasks emulator sends no OIDC token; it names the queue instead.
            "WORKER_CALLER_CHECK": "local",
            "PROJECT_ID": c.project_id,
            "GOOGLE_CLOUD_PROJECT": c.project_id,
            "FIRESTORE_EMULATOR_HOST": c.firestore_address,
            "FIREBASE_AUTH_EMULATOR_HOST": AUTH_EMULATOR_HOST,
            "TASKS_EMULATOR_HOST": c.tasks_address,
            "TASKS_LOCATION": c.tasks_location,
            "TASKS_QUEUE": c.tasks_queue,
            "WORKER_URL": c.worker_url,
            "CLEANUP_URL": c.cleanup_url,
            "TASKS_SERVICE_ACCOUNT": "",
            # Local retries come quickly (production waits 10 s, doubling): a learner trying
            # the stack, and the tests, see a failing job end in seconds, not minutes.
            "RETRY_BACKOFF_SECONDS": "0.5",
            "MAX_RETRY_DELAY_SECONDS": "3",
            # A fresh reading of the project's spend at every admission: locally it is cheap,
            # and a test that spends the day sees the ceiling at once.
            "SPEND_READING_MAX_AGE_SECONDS": "0",
            # No FCM locally: no job records a notification (the FCM end to end test turns
            # them on against its local stand-in, tests/integration/test_notifications_fcm.py).
            "NOTIFICATIONS_ENABLED": "false",
            "PYTHONUNBUFFERED": "1",
            **c.function_env,
        }

    def start_function(self, name: str, target: str, port: int) -> None:
        c = self.config
        if _port_open(c.host, port):
            raise StackError(f"port {port} is taken; is a stack already running?")
        managed = self.spawn(
            name,
            [
                str(FUNCTIONS_FRAMEWORK),
                "--target",
                target,
                "--source",
                str(ROOT / "functions" / "main.py"),
                "--host",
                c.host,
                "--port",
                str(port),
            ],
            env=self.function_env(),
        )
        probe = "/healthz" if target == "api" else "/"
        url = c.url(port) + probe
        _wait(
            f"function {target}",
            lambda: _port_open(c.host, port) and http_reachable(url),
            managed.process,
            managed.log_path,
            60,
        )


def http_reachable(url: str) -> bool:
    """True once the server answers at all (a worker that answers 501 is still up)."""
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback only
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def start_firestore(stack: Stack, host: str, port: int) -> Managed:
    """The official emulator, started as Java directly (the gcloud wrapper does not exec)."""
    if not FIRESTORE_JAR.exists():
        raise StackError(f"Firestore emulator not found at {FIRESTORE_JAR}")
    if _port_open(host, port):
        raise StackError(f"port {port} is taken; is a stack already running?")
    managed = stack.spawn(
        "firestore",
        [
            "java",
            "-cp",
            str(FIRESTORE_JAR),
            "com.google.cloud.datastore.emulator.firestore.CloudFirestore",
            "start",
            f"--host={host}",
            f"--port={port}",
            f"--rules={ROOT / 'firestore.rules'}",
        ],
    )
    _wait(
        "Firestore emulator",
        lambda: _http_ok(f"http://{host}:{port}/", "Ok"),
        managed.process,
        managed.log_path,
        60,
    )
    return managed


@contextlib.contextmanager
def firestore_emulator(port: int | None = None, log_dir: Path | None = None) -> Iterator[str]:
    """Just the Firestore emulator, for integration tests: yields host:port."""
    stack = Stack(StackConfig(log_dir=log_dir or STATE_DIR / "logs" / "tests"))
    stack.config.log_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    try:
        start_firestore(stack, "127.0.0.1", port)
        yield f"127.0.0.1:{port}"
    finally:
        stack.stop()


@contextlib.contextmanager
def firestore_emulator_host(address: str) -> Iterator[str]:
    """FIRESTORE_EMULATOR_HOST set to `address` (host:port) for the block, so that Firestore
    clients created in it talk to that emulator; its previous value (or absence) is restored."""
    previous = os.environ.get("FIRESTORE_EMULATOR_HOST")
    os.environ["FIRESTORE_EMULATOR_HOST"] = address
    try:
        yield address
    finally:
        if previous is None:
            os.environ.pop("FIRESTORE_EMULATOR_HOST", None)
        else:
            os.environ["FIRESTORE_EMULATOR_HOST"] = previous


def wipe_firestore(address: str, project_id: str) -> None:
    request = urllib.request.Request(
        f"http://{address}/emulator/v1/projects/{project_id}/databases/(default)/documents",
        method="DELETE",
    )
    # The emulator answers 409 while a transaction still holds a lock; it clears in moments.
    for attempt in range(20):
        try:
            with urllib.request.urlopen(request, timeout=10):  # noqa: S310
                return
        except urllib.error.HTTPError as exc:
            # 409: a transaction still holds a lock; 499: the emulator dropping a listener
            # whose client went away (fails the first wipe once).
            if exc.code not in (409, 499) or attempt == 19:
                raise
            time.sleep(0.25)


# ----- CLI -------------------------------------------------------------------------------

cli = typer.Typer(add_completion=False, help=__doc__)


def _describe(c: StackConfig) -> dict[str, str]:
    return {
        "api": c.api_url,
        "process_job": c.worker_url,
        "cleanup_jobs": c.cleanup_url,
        "firestore": f"http://{c.firestore_address}",
        "model": c.model_url if c.offline_model else "Gemini (GEMINI_API_KEY)",
        "cloud_tasks": c.tasks_address,
        "queue": c.queue_path,
        "project": c.project_id,
    }


def start_or_exit(stack: Stack) -> None:
    """Start the stack for a command; if it cannot start, stop what did and exit with status 1."""
    try:
        stack.start()
    except StackError as exc:
        stack.stop()
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


StateFile = typer.Option(
    STATE_FILE, envvar="DEV_STACK_STATE", help="Where a detached stack records its PIDs."
)


@cli.command()
def up(
    detach: bool = typer.Option(False, help="Leave the stack running and return."),
    firestore_port: int = typer.Option(8180, envvar="DEV_FIRESTORE_PORT"),
    tasks_port: int = typer.Option(9022, envvar="DEV_TASKS_PORT"),
    api_port: int = typer.Option(8081, envvar="DEV_API_PORT"),
    worker_port: int = typer.Option(8082, envvar="DEV_WORKER_PORT"),
    cleanup_port: int = typer.Option(8083, envvar="DEV_CLEANUP_PORT"),
    model_port: int = typer.Option(8084, envvar="DEV_MODEL_PORT"),
    model_pace_ms: int = typer.Option(40, envvar="DEV_MODEL_PACE_MS"),
    state_file: Path = StateFile,
) -> None:
    """Start the local stack on its fixed loopback ports."""
    if state_file.exists():
        typer.echo(f"A stack may already be running ({state_file}); run `down` first.")
        raise typer.Exit(1)
    stack = Stack(
        StackConfig(
            firestore_port=firestore_port,
            tasks_port=tasks_port,
            api_port=api_port,
            worker_port=worker_port,
            cleanup_port=cleanup_port,
            model_port=model_port,
            model_pace_ms=model_pace_ms,
        )
    )
    start_or_exit(stack)
    urls = _describe(stack.config)
    for name, url in urls.items():
        typer.echo(f"{name:>13}  {url}")
    typer.echo(f"         logs  {stack.config.log_dir}")
    if detach:
        pids = {m.name: m.process.pid for m in stack.processes}
        state_file.parent.mkdir(parents=True, exist_ok=True)
        state_file.write_text(json.dumps({"pids": pids, "urls": urls}, indent=2))
        typer.echo("Stack running in the background; stop it with `python -m dev.stack down`.")
        return
    typer.echo("Stack ready. Ctrl-C stops it.")
    stop = StopRequest()

    def any_exited() -> bool:
        exited = [m for m in stack.processes if m.process.poll() is not None]
        for managed in exited:
            typer.echo(f"{managed.name} exited; see {managed.log_path}", err=True)
        return bool(exited)

    try:
        stop.wait(any_exited, interval=0.5)
    finally:
        typer.echo("Stopping…")
        stack.stop()


@cli.command()
def down(state_file: Path = StateFile) -> None:
    """Stop a stack started with `up --detach`."""
    if not state_file.exists():
        typer.echo("No detached stack is recorded.")
        return
    state = json.loads(state_file.read_text())
    for name, pid in reversed(list(state["pids"].items())):
        stop_process_group(int(pid))
        typer.echo(f"stopped {name} (pid {pid})")
    state_file.unlink()


@cli.command()
def status(state_file: Path = StateFile) -> None:
    """Show whether a detached stack is up."""
    if not state_file.exists():
        typer.echo("No detached stack is recorded.")
        raise typer.Exit(1)
    state = json.loads(state_file.read_text())
    for name, pid in state["pids"].items():
        try:
            os.killpg(int(pid), 0)
            alive = "running"
        except ProcessLookupError:
            alive = "stopped"
        typer.echo(f"{name:>10}  pid {pid}  {alive}")


if __name__ == "__main__":
    cli()
