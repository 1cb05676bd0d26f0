"""Helpers of the end-to-end tests (tests/e2e): waiting, the offline model, jobs over HTTP."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from qgen.adapters.firestore.names import JOBS

from dev.model_server.client import AdminClient
from dev.stack import Stack
from tests.e2e.conftest import bearer


def wait_for(predicate: Callable[[], Any], timeout: float = 60, what: str = "condition") -> Any:
    """The first truthy value of ``predicate``, polled every 50 ms for ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@contextlib.contextmanager
def fresh_model(stack: Stack) -> Iterator[AdminClient]:
    """The stack's offline model, with no faults or settings left over before and after."""
    admin = AdminClient(stack.config.model_url)
    admin.reset()
    try:
        yield admin
    finally:
        admin.reset()


def get_job(client: httpx.Client, job_id: str, uid: str = "alice") -> dict[str, Any]:
    response = client.get(f"/jobs/{job_id}", headers=bearer(uid))
    assert response.status_code == 200, response.text
    return dict(response.json())


def create(client: httpx.Client, prompt: str = "NATO alphabet", uid: str = "alice") -> str:
    response = client.post("/jobs", json={"prompt": prompt}, headers=bearer(uid))
    assert response.status_code == 202, response.text
    return str(response.json()["jobId"])


def wait_for_status(client: httpx.Client, job_id: str, status: str, what: str) -> dict[str, Any]:
    """The job as the api returns it once its status is ``status``."""
    job: dict[str, Any] = wait_for(
        lambda: (j := get_job(client, job_id))["status"] == status and j, what=what
    )
    return job


def create_and_kill_its_worker(client: httpx.Client, worker: Stack) -> str:
    """Create a job, let it save three questions, then SIGKILL the one process of ``worker``
    (the function that runs it) mid-stream; returns the job id."""
    job_id = create(client)
    wait_for(lambda: get_job(client, job_id)["questionsSaved"] >= 3, what="questions")
    (victim,) = worker.processes
    os.killpg(victim.process.pid, signal.SIGKILL)
    victim.process.wait(timeout=10)
    # The group leader is reaped; its gunicorn worker may still hold the port for a moment, and
    # a test restarting the function on the same port must not find it taken.
    wait_for(lambda: not _group_alive(victim.process.pid), timeout=10, what="the group to exit")
    worker.processes.clear()
    return job_id


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def expire_lease(db: Any, job_id: str) -> None:
    """Move the job's lease expiry into the past: what waiting out the lease would do, at once.

    The expiry is a stored time, so this is the same state the clock reaches; it spares each
    recovery test a ten-second sleep."""
    expired = datetime.now(UTC) - timedelta(seconds=1)
    db.collection(JOBS).document(job_id).update({"leaseExpiresAt": expired})


def redeliver(stack: Stack, worker_url: str, job_id: str) -> httpx.Response:
    """Deliver the job's task to ``worker_url`` as Cloud Tasks would redeliver it (the
    emulator retries at once and gives up while a worker is down, so tests do it themselves
    once the lease has expired); asserts it was answered 200."""
    redelivered = httpx.post(
        worker_url,
        json={"jobId": job_id},
        headers={"X-CloudTasks-QueueName": stack.config.tasks_queue},
        timeout=120,
    )
    assert redelivered.status_code == 200, redelivered.text
    return redelivered
