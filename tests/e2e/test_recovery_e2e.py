"""A worker killed mid-stream whose task is lost: the recovery sweep brings the job home."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import httpx
import pytest

from dev.model_server.client import AdminClient
from dev.stack import Stack, free_port
from tests.e2e.conftest import ApiSpawner
from tests.e2e.test_worker_e2e import assert_consistent, create, get_job, wait_for

pytestmark = pytest.mark.e2e


def test_sweep_recovers_a_job_whose_worker_died_and_whose_task_was_lost(
    stack: Stack, db: Any, spawner: ApiSpawner
) -> None:
    model = AdminClient(stack.config.model_url)
    model.reset()
    model.config(paceMs=40)
    worker_port = free_port()
    worker_env = {"lease_seconds": "10"}
    worker_url, first_worker = spawner.function("process_job", worker_port, **worker_env)
    api_url = spawner(worker_url=worker_url)
    cleanup_url, _ = spawner.function("cleanup_jobs", worker_url=worker_url)
    try:
        with httpx.Client(base_url=api_url, timeout=60) as client:
            job_id = create(client)
            wait_for(lambda: get_job(client, job_id)["questionsSaved"] >= 3, what="questions")
            (victim,) = first_worker.processes
            os.killpg(victim.process.pid, signal.SIGKILL)
            victim.process.wait(timeout=10)
            first_worker.processes.clear()
            # The emulator retries the failed dispatch at once, five times, and gives up: the
            # task is gone. The job is stuck in processing until its lease expires.
            time.sleep(10.5)
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
            job = wait_for(
                lambda: (j := get_job(client, job_id))["status"] == "completed" and j,
                what="the recovered job to complete",
            )
        assert job["attempts"] == 2
        doc = assert_consistent(db, job_id)
        assert doc["questionsSaved"] == 40
        assert doc["questionIds"] == [f"{job_id}-q{i:03d}" for i in range(40)]
        assert doc["run"] == 1
    finally:
        model.reset()
