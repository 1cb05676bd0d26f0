"""One run: a learner's devices registered through the api, jobs created through it, and each
job's end (``completedAt`` in Firestore, the worker's clock) set against the FCM stand-in's
receipt of its messages (``time.time()`` in this process; one machine, one clock)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from google.cloud import firestore
from qgen.adapters.firestore.names import JOBS, NOTIFICATION_OUTBOX

from dev.tokens import emulator_id_token
from tests.support.fake_fcm import FakeFcm

T = TypeVar("T")
TERMINAL = {"completed", "failed", "cancelled"}
# How long after the last job the stand-in is watched for a message sent twice.
SETTLE_SECONDS = 3.0


@dataclass(frozen=True)
class JobTiming:
    job_id: str
    status: str
    completed_at: float  # epoch seconds
    committed_at: float  # the job document's update time: the end's commit
    received: dict[str, list[float]]  # by device token: each message's receipt time

    @property
    def latency(self) -> float:
        """Job end -> the last device's message handed to FCM, in seconds."""
        return self.handed_over - self.completed_at

    @property
    def handed_over(self) -> float:
        return max(times[0] for times in self.received.values())


@dataclass(frozen=True)
class Learner:
    uid: str
    tokens: tuple[str, ...]


def wait_for(predicate: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise TimeoutError(f"timed out waiting for {what}")


def _headers(uid: str, project: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {emulator_id_token(uid, project_id=project)}"}


def register(client: httpx.Client, learner: Learner, project: str) -> None:
    for token in learner.tokens:
        response = client.post(
            "/devices", json={"token": token}, headers=_headers(learner.uid, project)
        )
        response.raise_for_status()


def _ended(db: firestore.Client, job_id: str) -> Any:
    """The job's snapshot once it has ended (nothing writes to it after)."""
    snapshot = db.collection(JOBS).document(job_id).get()
    return snapshot if (snapshot.to_dict() or {}).get("status") in TERMINAL else None


def _receipts(fcm: FakeFcm, job_id: str, tokens: tuple[str, ...]) -> dict[str, list[float]]:
    mine = [r for r in fcm.received if r.message.get("data", {}).get("jobId") == job_id]
    return {t: [r.at for r in mine if r.token == t] for t in tokens}


def one_job(
    client: httpx.Client, db: firestore.Client, fcm: FakeFcm, learner: Learner, project: str
) -> JobTiming:
    response = client.post(
        "/jobs", json={"prompt": "NATO alphabet"}, headers=_headers(learner.uid, project)
    )
    response.raise_for_status()
    job_id = str(response.json()["jobId"])
    snapshot = wait_for(lambda: _ended(db, job_id), 120, f"job {job_id} to end")
    wait_for(
        lambda: all(_receipts(fcm, job_id, learner.tokens).values()), 30, f"{job_id}'s messages"
    )
    job = snapshot.to_dict()
    return JobTiming(
        job_id,
        job["status"],
        job["completedAt"].timestamp(),
        snapshot.update_time.timestamp(),
        _receipts(fcm, job_id, learner.tokens),
    )


def run(
    api_url: str,
    db: firestore.Client,
    fcm: FakeFcm,
    learner: Learner,
    *,
    project: str,
    jobs: int,
    concurrency: int,
) -> tuple[list[JobTiming], int]:
    """The jobs' timings, re-read after a settling wait (a late duplicate shows), and the
    outbox documents left."""
    with httpx.Client(base_url=api_url, timeout=60) as client:
        register(client, learner, project)
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            timed = list(
                pool.map(lambda _: one_job(client, db, fcm, learner, project), range(jobs))
            )
    time.sleep(SETTLE_SECONDS)
    settled = [
        dataclasses.replace(t, received=_receipts(fcm, t.job_id, learner.tokens)) for t in timed
    ]
    left = len(list(db.collection(NOTIFICATION_OUTBOX).stream()))
    return settled, left
