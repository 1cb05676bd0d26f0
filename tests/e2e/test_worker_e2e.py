"""The whole pipeline: api → Cloud Tasks emulator → worker → offline model → Firestore."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from google.cloud.firestore import FieldFilter
from qgen.adapters.firestore.names import JOBS, QUESTIONS
from qgen.domain.questions import normalise_question_text

from dev.model_server.client import AdminClient
from dev.stack import Stack, free_port
from tests.e2e.conftest import ApiSpawner, bearer
from tests.support.e2e import (
    create,
    create_and_kill_its_worker,
    expire_lease,
    fresh_model,
    get_job,
    redeliver,
    wait_for,
    wait_for_status,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def model(stack: Stack) -> Iterator[AdminClient]:
    with fresh_model(stack) as admin:
        yield admin


def saved_questions(db: Any, job_id: str) -> list[dict[str, Any]]:
    query = db.collection(QUESTIONS).where(filter=FieldFilter("generationJobId", "==", job_id))
    return [s.to_dict() for s in query.stream()]


def assert_consistent(db: Any, job_id: str) -> dict[str, Any]:
    doc = dict(db.collection(JOBS).document(job_id).get().to_dict())
    saved = saved_questions(db, job_id)
    assert doc["questionsSaved"] == len(saved) == len(doc["questionIds"])
    texts = [normalise_question_text(q["question"]) for q in saved]
    assert len(texts) == len(set(texts)), "duplicate question text"
    return doc


def assert_resumed_in_full(db: Any, job_id: str, job: dict[str, Any]) -> dict[str, Any]:
    """A job one crash interrupted: two runs, and its 40 questions saved once each, in order."""
    assert job["attempts"] == 2
    doc = assert_consistent(db, job_id)
    assert doc["questionsSaved"] == 40
    assert doc["questionIds"] == [f"{job_id}-q{i:03d}" for i in range(40)]
    return doc


def test_a_job_is_generated_end_to_end(live_api: httpx.Client, db: Any, model: AdminClient) -> None:
    job_id = create(live_api)
    job = wait_for_status(live_api, job_id, "completed", what="the job to complete")
    assert job["questionsSaved"] == job["estimatedTotal"] == 40
    assert job["attempts"] == 1
    doc = assert_consistent(db, job_id)
    assert doc["usage"]["outputTokens"] > 0
    assert all(q["userId"] == "alice" for q in saved_questions(db, job_id))
    assert model.stats()["streamGenerateContent"] == 1


def test_cancel_through_the_api_stops_the_worker_and_keeps_partial_results(
    live_api: httpx.Client, db: Any, model: AdminClient
) -> None:
    model.config(paceMs=40)
    job_id = create(live_api)
    wait_for(lambda: get_job(live_api, job_id)["questionsSaved"] >= 2, what="questions")
    cancelled = live_api.post(f"/jobs/{job_id}/cancel", headers=bearer("alice"))
    assert cancelled.status_code == 200
    saved_at_cancel = get_job(live_api, job_id)["questionsSaved"]
    # The worker notices at its next batch (within about a second) and stops streaming.
    wait_for(
        lambda: any(r.get("status") == "client gone" for r in model.requests()),
        timeout=10,
        what="the worker to hang up on the model",
    )
    time.sleep(1.5)
    job = get_job(live_api, job_id)
    assert job["status"] == "cancelled"
    assert job["questionsSaved"] == saved_at_cancel < 40
    assert assert_consistent(db, job_id)["questionsSaved"] == saved_at_cancel


def test_transient_failures_retry_then_the_learner_retries_a_failed_job(
    live_api: httpx.Client, db: Any, model: AdminClient
) -> None:
    # Every delivery of the first run drops mid-stream: the queue retries, the job ends failed.
    model.add_faults({"kind": "drop", "call": "stream", "afterQuestions": 2, "times": 5})
    job_id = create(live_api)
    job = wait_for_status(live_api, job_id, "failed", what="the job to fail after its retries")
    assert job["errorCode"] == "NETWORK"
    assert job["retryable"] is True
    assert job["attempts"] == 5
    kept = job["questionsSaved"]
    assert kept > 0, "questions saved by the failed attempts are kept"

    retried = live_api.post(f"/jobs/{job_id}/retry", headers=bearer("alice"))
    assert retried.status_code == 202, retried.text
    assert retried.json()["status"] == "pending"
    job = wait_for_status(live_api, job_id, "completed", what="the retried job to complete")
    assert job["questionsSaved"] == 40
    assert assert_consistent(db, job_id)["questionIds"][:kept] == [
        f"{job_id}-q{i:03d}" for i in range(kept)
    ]
    again = live_api.post(f"/jobs/{job_id}/retry", headers=bearer("alice"))
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "NOT_RETRYABLE"


def test_worker_killed_mid_stream_is_resumed_by_the_redelivered_task(
    stack: Stack, db: Any, model: AdminClient, spawner: ApiSpawner
) -> None:
    worker_port = free_port()
    worker_env = {"lease_seconds": "10", "worker_caller_check": "local"}
    worker_url, first_worker = spawner.function("process_job", worker_port, **worker_env)
    api_url = spawner(worker_url=worker_url)
    model.config(paceMs=40)
    with httpx.Client(base_url=api_url, timeout=60) as client:
        job_id = create_and_kill_its_worker(client, first_worker)
        crashed = get_job(client, job_id)
        assert crashed["status"] == "processing"
        assert crashed["questionsSaved"] < 40

        # Cloud Tasks redelivers a failed dispatch with backoff longer than the lease; the
        # emulator retries at once (and gives up while the worker is down), so the test makes
        # that redelivery itself once the lease has expired.
        expire_lease(db, job_id)
        spawner.function("process_job", worker_port, **worker_env)
        redelivered = redeliver(stack, worker_url, job_id)
        assert redelivered.json()["outcome"] in {"completed", "terminal"}
        job = wait_for_status(client, job_id, "completed", what="the resumed job to complete")
    assert_resumed_in_full(db, job_id, job)
