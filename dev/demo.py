"""The main job, end to end on the local stack:

    make demo                      # or: python -m dev.demo "world capitals"

Starts the stack (offline model unless GEMINI_API_KEY is set), submits the prompt as a local
learner, shows live progress fed by a Firestore listener on the job document (no polling),
prints the saved questions with their FSRS due dates, and shuts everything down.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import typer
from google.cloud import firestore
from qgen_cli.follow import FollowTimeoutError, follow_job, progress_bar
from rich.console import Console
from rich.table import Table

from dev.stack import Stack, StackConfig, StackError
from dev.tokens import emulator_id_token

LEARNER = "demo-learner"
console = Console()


def _follow(client: firestore.Client, submitted: dict[str, Any], timeout: float) -> dict[str, Any]:
    try:
        with progress_bar(console) as show:
            return follow_job(client, submitted["jobId"], submitted, timeout, show)
    except FollowTimeoutError:
        raise SystemExit(f"the job did not finish within {timeout:.0f} s") from None


def _print_questions(client: firestore.Client, job: dict[str, Any]) -> None:
    refs = [client.collection("questions").document(qid) for qid in job.get("questionIds", [])]
    docs = {s.id: s.to_dict() for s in client.get_all(refs) if s.exists}
    table = Table(title=f"{len(docs)} questions on {job.get('topic', '?')}", show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("question")
    table.add_column("answer")
    table.add_column("FSRS due (UTC)")
    for n, qid in enumerate(job.get("questionIds", []), start=1):
        q = docs.get(qid)
        if q is None:
            continue
        table.add_row(str(n), q["question"], q["correctAnswer"], f"{q['due']:%Y-%m-%d %H:%M:%S}")
    console.print(table)


def main(
    prompt: str = typer.Argument("NATO alphabet", help="What the learner wants to learn."),
    timeout: float = typer.Option(300, help="Seconds to wait for the job."),
) -> None:
    config = StackConfig.from_env()
    model = "Gemini (GEMINI_API_KEY)" if config.gemini_api_key else "the offline model"
    console.print(f"Starting the local stack with {model}…")
    try:
        stack = Stack(config).__enter__()
    except StackError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    try:
        os.environ["FIRESTORE_EMULATOR_HOST"] = config.firestore_address
        client = firestore.Client(project=config.project_id)
        token = emulator_id_token(LEARNER, project_id=config.project_id)
        response = httpx.post(
            f"{config.api_url}/jobs",
            json={"prompt": prompt},
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        if response.status_code != 202:
            error = response.json().get("error", {})
            console.print(f"[red]{error.get('code')}[/red]: {error.get('message')}")
            raise typer.Exit(1)
        submitted = response.json()
        console.print(f"Submitted {prompt!r} as {LEARNER}: job {submitted['jobId']}")
        job = _follow(client, submitted, timeout)
        if job["status"] != "completed":
            console.print(
                f"[red]Job {job['status']}[/red]: {job.get('errorCode', '')} "
                f"{job.get('errorMessage', '')}"
            )
        usage = job.get("usage") or {}
        console.print(
            f"Job {job['status']} in {job.get('durationMs', 0) / 1000:.1f} s, "
            f"{job.get('questionsSaved', 0)} saved, {job.get('questionsRejected', 0)} rejected, "
            f"tokens {usage.get('promptTokens', 0)} in / {usage.get('outputTokens', 0)} out."
        )
        _print_questions(client, job)
        if job["status"] != "completed":
            raise typer.Exit(1)
    finally:
        console.print("Stopping the local stack…")
        stack.stop()


if __name__ == "__main__":
    typer.run(main)
