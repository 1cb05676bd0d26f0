"""A job's notification on the local stack: api and worker as functions, notifications on.

The stack's emulators with an api and a worker of their own, whose firebase-admin reaches "FCM"
through the local stand-in (tests/support/fake_fcm.py) as in production: proxy, CA, a service
account as their Application Default Credentials. A learner registers two devices through the
api and creates a job; each device gets one message, handed over within issue 12's 2 s of
the job's end (a cold worker: its first OAuth2 grant and TLS handshake included).
benchmarks/notification_latency.py measures the same over many jobs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from qgen.adapters.firestore.names import JOBS, NOTIFICATION_OUTBOX

from dev.stack import free_port
from tests.conftest import PROJECT_ID
from tests.e2e.conftest import ApiSpawner, bearer
from tests.support.e2e import wait_for
from tests.support.fake_fcm import FakeFcm

pytestmark = pytest.mark.e2e

PHONE, LAPTOP = "e2e-phone-" + "p" * 40, "e2e-laptop-" + "l" * 40
GOAL_SECONDS = 2.0


@pytest.fixture(scope="module")
def fcm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeFcm]:
    with FakeFcm(tmp_path_factory.mktemp("fake-fcm"), project_id=PROJECT_ID) as fake:
        yield fake


@pytest.fixture(scope="module")
def notifying_api(
    fcm: FakeFcm, spawner: ApiSpawner, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """An api whose tasks go to a worker of its own; both notify through the stand-in."""
    credentials = fcm.write_service_account(tmp_path_factory.mktemp("sa") / "sa.json")
    env = fcm.function_env(credentials)
    worker_port = free_port()
    worker_url = f"http://127.0.0.1:{worker_port}/"
    # Started side by side: each takes seconds to import and answer.
    with ThreadPoolExecutor(max_workers=2) as pool:
        worker = pool.submit(spawner.function, "process_job", worker_port, **env)
        api = pool.submit(spawner.function, "api", None, **env, WORKER_URL=worker_url)
        assert worker.result()[0] == worker_url
        return api.result()[0]


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
