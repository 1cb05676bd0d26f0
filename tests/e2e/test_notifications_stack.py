"""A job's notification on the local stack: api and worker as functions, notifications on.

The stack's emulators with an api and a worker of their own, whose firebase-admin reaches "FCM"
through the local stand-in (tests/support/fake_fcm.py) as in production: proxy, CA, a service
account as their Application Default Credentials. A learner registers two devices through the
api and creates a job; each device gets one message, handed over within issue 12's 2 s of
the job's end (a cold worker: its first OAuth2 grant and TLS handshake included).
benchmarks/notification_latency.py measures the same over many jobs. Then the worker tests'
hard cases, each ending with exactly one message per device per job end: a worker SIGKILLed
mid-stream and the job resumed by the redelivered task; a job failing through its retries,
then retried by its learner (two ends: two messages, failed then completed).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from qgen.adapters.firestore.names import JOBS, NOTIFICATION_OUTBOX

from dev.model_server.client import AdminClient
from dev.stack import Stack, free_port
from tests.conftest import PROJECT_ID
from tests.e2e.conftest import ApiSpawner, bearer
from tests.support.e2e import (
    create,
    create_and_kill_its_worker,
    expire_lease,
    fresh_model,
    redeliver,
    wait_for,
    wait_for_status,
)
from tests.support.fake_fcm import FakeFcm

pytestmark = pytest.mark.e2e

PHONE, LAPTOP = "e2e-phone-" + "p" * 40, "e2e-laptop-" + "l" * 40
GOAL_SECONDS = 2.0


@pytest.fixture(scope="module")
def fcm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeFcm]:
    with FakeFcm(tmp_path_factory.mktemp("fake-fcm"), project_id=PROJECT_ID) as fake:
        yield fake


@pytest.fixture(scope="module")
def notifying_env(fcm: FakeFcm, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    credentials = fcm.write_service_account(tmp_path_factory.mktemp("sa") / "sa.json")
    return fcm.function_env(credentials)


def notifying_pair(
    spawner: ApiSpawner, env: dict[str, str], **worker_env: str
) -> tuple[str, str, Stack]:
    """An api whose tasks go to a worker of its own (which queues its retries to itself);
    both notify through the stand-in. (api URL, worker URL, the worker's owner)."""
    worker_port = free_port()
    worker_url = f"http://127.0.0.1:{worker_port}/"
    worker_env = {**env, "WORKER_URL": worker_url, **worker_env}
    # Started side by side: each takes seconds to import and answer.
    with ThreadPoolExecutor(max_workers=2) as pool:
        worker = pool.submit(spawner.function, "process_job", worker_port, **worker_env)
        api = pool.submit(spawner.function, "api", None, **env, WORKER_URL=worker_url)
        url, owner = worker.result()
        assert url == worker_url
        return api.result()[0], worker_url, owner


@pytest.fixture(scope="module")
def notifying_api(spawner: ApiSpawner, notifying_env: dict[str, str]) -> str:
    return notifying_pair(spawner, notifying_env)[0]


@pytest.fixture
def model(stack: Stack) -> Iterator[AdminClient]:
    with fresh_model(stack) as admin:
        yield admin


def messages_of(fcm: FakeFcm, job_id: str, token: str) -> list[dict[str, str]]:
    """The data payloads of the messages ``token`` got about ``job_id``."""
    return [r.message["data"] for r in fcm.to(token) if r.message["data"]["jobId"] == job_id]


def assert_one_per_device(fcm: FakeFcm, job_id: str, statuses: list[str]) -> None:
    """Each device got one message per end of the job, with these final statuses, in order."""
    wait_for(
        lambda: all(len(messages_of(fcm, job_id, t)) >= len(statuses) for t in (PHONE, LAPTOP)),
        timeout=30,
        what="the messages",
    )
    time.sleep(1)  # a second message, if one were sent, would arrive by now
    for token in (PHONE, LAPTOP):
        assert [m["status"] for m in messages_of(fcm, job_id, token)] == statuses


def test_each_device_gets_one_message_within_two_seconds_of_the_jobs_end(
    notifying_api: str, fcm: FakeFcm, db: Any
) -> None:
    with httpx.Client(base_url=notifying_api, timeout=60) as api:
        for token in (PHONE, LAPTOP):
            assert api.post("/devices", json={"token": token}, headers=bearer("alice")).is_success
        created = api.post("/jobs", json={"prompt": "NATO alphabet"}, headers=bearer("alice"))
        assert created.status_code == 202, created.text
    job_id = created.json()["jobId"]

    job = wait_for(
        lambda: (
            (d := db.collection(JOBS).document(job_id).get().to_dict())
            and d["status"] == "completed"
            and d
        ),
        what="the job to complete",
    )
    wait_for(lambda: fcm.to(PHONE) and fcm.to(LAPTOP), timeout=30, what="both messages")
    time.sleep(1)  # a second message, if one were sent, would arrive by now

    received = [fcm.to(PHONE), fcm.to(LAPTOP)]
    assert [len(r) for r in received] == [1, 1]
    assert {r[0].message["data"]["jobId"] for r in received} == {job_id}
    handed_over = max(r[0].at for r in received) - job["completedAt"].timestamp()
    assert 0 < handed_over <= GOAL_SECONDS, f"{handed_over:.3f} s after the job's end"
    assert list(db.collection(NOTIFICATION_OUTBOX).stream()) == []


def test_a_worker_killed_mid_stream_notifies_once_when_the_resumed_job_ends(
    stack: Stack,
    spawner: ApiSpawner,
    notifying_env: dict[str, str],
    fcm: FakeFcm,
    db: Any,
    model: AdminClient,
) -> None:
    worker_env = {"LEASE_SECONDS": "10"}
    api_url, worker_url, first_worker = notifying_pair(spawner, notifying_env, **worker_env)
    model.config(paceMs=40)
    with httpx.Client(base_url=api_url, timeout=60) as client:
        for token in (PHONE, LAPTOP):
            client.post("/devices", json={"token": token}, headers=bearer("alice"))
        job_id = create_and_kill_its_worker(client, first_worker)
        expire_lease(db, job_id)
        port = int(worker_url.rstrip("/").rsplit(":", 1)[1])
        spawner.function("process_job", port, **notifying_env, WORKER_URL=worker_url, **worker_env)
        redeliver(stack, worker_url, job_id)
        wait_for_status(client, job_id, "completed", what="the resumed job to complete")
    assert_one_per_device(fcm, job_id, ["completed"])


def test_a_job_failed_through_its_retries_then_retried_notifies_once_per_end(
    spawner: ApiSpawner, notifying_env: dict[str, str], fcm: FakeFcm, model: AdminClient
) -> None:
    api_url, _, _ = notifying_pair(spawner, notifying_env)
    # Every delivery of the first run drops mid-stream: the retries run out, the job fails.
    model.add_faults({"kind": "drop", "call": "stream", "afterQuestions": 2, "times": 5})
    with httpx.Client(base_url=api_url, timeout=60) as client:
        for token in (PHONE, LAPTOP):
            client.post("/devices", json={"token": token}, headers=bearer("alice"))
        job_id = create(client)
        wait_for_status(client, job_id, "failed", what="the job to fail after its retries")
        retried = client.post(f"/jobs/{job_id}/retry", headers=bearer("alice"))
        assert retried.status_code == 202, retried.text
        wait_for_status(client, job_id, "completed", what="the retried job to complete")
    assert_one_per_device(fcm, job_id, ["failed", "completed"])
