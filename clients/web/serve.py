"""`make web`: the web client's dev server (Vite) against the local stack.

    python -m clients.web.serve [--port 5173]

Uses the stack of `make dev` / `make dev-detach` when it answers on its ports (DEV_*_PORT, as
for dev.stack); otherwise starts one for as long as this runs. Ctrl-C stops what it started.
The app is configured through VITE_QGEN_* variables (clients/web/src/config.ts), so the page
talks to exactly this stack's api and Firestore emulator. Other VITE_* variables in the environment
pass through: VITE_FIREBASE_MESSAGING_SENDER_ID and VITE_FIREBASE_VAPID_KEY (with the web app's
VITE_FIREBASE_API_KEY and VITE_FIREBASE_APP_ID) turn on notifications; without them the app says
they are not available here. public/ (firebase-messaging-sw.js, the push service worker) is
served at the root.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import typer

from dev.foreground import StopRequest
from dev.stack import Stack, StackConfig, http_reachable, start_or_exit, stop_process_group

WEB = Path(__file__).resolve().parent
VITE = WEB / "node_modules" / ".bin" / "vite"


def main(
    port: int = typer.Option(5173, envvar="WEB_PORT", help="Port of the dev server."),
    project: str = typer.Option(
        "demo-qgen", envvar="DEV_PROJECT_ID", help="Project id of the running stack."
    ),
) -> None:
    if not VITE.exists():
        typer.echo("clients/web/node_modules is missing; run `make web-deps`.", err=True)
        raise typer.Exit(1)
    origin = f"http://127.0.0.1:{port}"
    config = StackConfig.from_env()
    config.project_id = project
    # A stack started here lets this origin through CORS (5173 is allowed by default).
    config.function_env = {
        "CORS_ALLOWED_ORIGINS": f"{origin},http://localhost:{port}",
    }
    stack: Stack | None = None
    if http_reachable(config.api_url + "/healthz") and http_reachable(
        f"http://{config.firestore_address}/"
    ):
        typer.echo(
            f"Using the running stack: api {config.api_url}, Firestore {config.firestore_address}"
        )
    else:
        typer.echo("Starting the local stack (offline model unless GEMINI_API_KEY is set)…")
        stack = Stack(config)
        start_or_exit(stack)
    env = {
        **os.environ,
        "VITE_QGEN_MODE": "local",
        "VITE_QGEN_PROJECT_ID": config.project_id,
        "VITE_QGEN_API_URL": config.api_url,
        "VITE_QGEN_FIRESTORE_EMULATOR": config.firestore_address,
    }
    argv = [str(VITE), "--host", "127.0.0.1", "--port", str(port), "--strictPort"]
    vite = subprocess.Popen(  # noqa: S603 - our own vite, fixed arguments
        [*argv, "--clearScreen", "false"],
        cwd=WEB,
        env=env,
        start_new_session=True,
    )
    stop = StopRequest()
    deadline = time.monotonic() + 30

    def exited() -> bool:
        return vite.poll() is not None

    def serving() -> bool:
        return exited() or time.monotonic() >= deadline or http_reachable(origin + "/")

    try:
        if not stop.wait(serving, interval=0.1) and not exited():
            typer.echo(f"Web client on {origin}/ (sign in with any local user name). Ctrl-C stops.")
            stop.wait(exited, interval=0.2)
    finally:
        typer.echo("Stopping…")
        stop_process_group(vite.pid)
        with contextlib.suppress(Exception):
            vite.wait(timeout=5)
        if stack is not None:
            stack.stop()
    if vite.returncode not in (0, None, -signal.SIGTERM, -signal.SIGKILL) and not stop.requested:
        raise typer.Exit(1)


if __name__ == "__main__":
    typer.run(main)
