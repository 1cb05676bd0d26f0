"""Following one job live: a Firestore listener on its document, shown as a progress bar.

The `qgen` commands and `make demo` (dev/demo.py) both follow jobs through here, so a job reads
the same wherever it is watched.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from google.cloud import firestore

Job = dict[str, Any]

TERMINAL = frozenset({"completed", "failed", "cancelled"})
PHASE_TEXT = {
    "clarifying": "understanding your request",
    "generating": "generating questions",
    "finalizing": "finishing up",
}
# How long one wait for a snapshot may block: the deadline is checked in between.
POLL_SECONDS = 0.5


class FollowTimeoutError(Exception):
    """The job was still running when the time given to follow it ran out."""


def describe(job: Job) -> str:
    status = job.get("status", "pending")
    if status == "processing":
        return PHASE_TEXT.get(job.get("phase") or "", "starting") + "…"
    if status == "pending":
        return "retrying…" if job.get("lastErrorCode") else "waiting to start"
    return str(status)


def progress_text(job: Job) -> str:
    saved = job.get("questionsSaved", 0)
    total = job.get("estimatedTotal")
    return f"{saved}/{total}" if total else str(saved)


def title(job: Job) -> str:
    return str(job.get("topic") or job.get("prompt") or "")


def follow_job(
    client: firestore.Client,
    job_id: str,
    job: Job,
    timeout: float,
    show: Callable[[Job], None],
) -> Job:
    """Show `job`, then every newer snapshot of it, until it ends; the last snapshot.

    Raises FollowTimeoutError when it is still running after `timeout` seconds.
    """
    # Imported here: the Firestore client library is most of the CLI's start-up time, and
    # only following a job needs it.
    from qgen_cli.store import JobWatcher

    show(job)
    watcher = JobWatcher(client, job_id)
    deadline = time.monotonic() + timeout
    try:
        seen = 0
        while job.get("status") not in TERMINAL:
            if time.monotonic() > deadline:
                raise FollowTimeoutError(job_id)
            seen, latest = watcher.wait(seen, timeout=POLL_SECONDS)
            if latest:
                job = latest
                show(job)
        return job
    finally:
        watcher.close()


@contextlib.contextmanager
def progress_bar(console: Console) -> Iterator[Callable[[Job], None]]:
    """A live bar (title, questions saved of the estimate, state, time) and what updates it."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[state]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task("", total=None, state="")

        def show(job: Job) -> None:
            progress.update(
                bar,
                description=title(job)[:40],
                total=job.get("estimatedTotal"),
                completed=job.get("questionsSaved", 0),
                state=describe(job),
            )

        yield show
