"""A worker killed mid-stream whose task is lost: the recovery sweep brings the job home."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dev.stack import Stack, free_port
from tests.e2e.conftest import ApiSpawner
from tests.e2e.test_worker_e2e import assert_resumed_in_full
from tests.support.e2e import (
    create_and_kill_its_worker,
    expire_lease,
    fresh_model,
    get_job,
    wait_for_status,
)

pytestmark = pytest.mark.e2e


def test_sweep_recovers_a_job_whose_worker_died_and_whose_task_was_lost(
    stack: Stack, db: Any, spawner: ApiSpawner
) -> None:
    with fresh_model(stack) as model:
        model.config(paceMs=40)
        worker_port = free_port()
        worker_env = {"lease_seconds": "10"}
        worker_url, first_worker = spawner.function("process_job", worker_port, **worker_env)
        api_url = spawner(worker_url=worker_url)
        cleanup_url, _ = spawner.function("cleanup_jobs", worker_url=worker_url)
        with httpx.Client(base_url=api_url, timeout=60) as client:
            job_id = create_and_kill_its_worker(client, first_worker)
            # The emulator retries the failed dispatch at once, five times, and gives up: the
            # task is gone. The job is stuck in processing until its lease expires.
            expire_lease(db, job_id)
            stuck = get_job(client, job_id)
            assert stuck["status"] == "processing"
            spawner.function("process_job", worker_port, **worker_env)

            swept = httpx.post(
                cleanup_url,
                json={"mode": "recovery"},
                headers={"X-CloudScheduler": "true"},
                timeout=60,
            )
            assert swept.status_code == 200, swept.text
            assert swept.json()["recovery"]["requeued"] == [job_id]
            job = wait_for_status(client, job_id, "completed", what="the recovered job to complete")
        doc = assert_resumed_in_full(db, job_id, job)
        assert doc["run"] == 1
