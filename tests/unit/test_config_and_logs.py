from __future__ import annotations

import io
import json
import logging

import pytest
from qgen.config import Settings
from qgen.logs import CloudLoggingFormatter, set_trace_from_header


def test_defaults_are_the_seed_limits() -> None:
    s = Settings()
    assert (s.max_concurrent_per_user, s.min_prompt_length, s.max_prompt_length) == (3, 3, 5000)
    assert (s.completed_job_retention_days, s.failed_job_retention_days) == (7, 30)
    assert (s.user_rate_limit, s.ip_rate_limit) == (20, 100)
    assert s.queue_path == ("projects/demo-qgen/locations/us-central1/queues/question-generation")


def test_every_setting_is_overridable_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "PROJECT_ID": "prod-project",
        "TASKS_LOCATION": "europe-west1",
        "TASKS_QUEUE": "q2",
        "WORKER_URL": "https://worker.example/",
        "TASKS_SERVICE_ACCOUNT": "tasks@prod-project.iam.gserviceaccount.com",
        "MAX_CONCURRENT_PER_USER": "5",
        "MIN_PROMPT_LENGTH": "4",
        "MAX_PROMPT_LENGTH": "100",
        "COMPLETED_JOB_RETENTION_DAYS": "8",
        "FAILED_JOB_RETENTION_DAYS": "31",
        "USER_RATE_LIMIT": "7",
        "USER_RATE_WINDOW_SECONDS": "60",
        "IP_RATE_LIMIT": "9",
        "IP_RATE_WINDOW_SECONDS": "120",
        "CORS_ALLOWED_ORIGINS": "https://app.example, https://admin.example",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s = Settings()
    assert s.queue_path == "projects/prod-project/locations/europe-west1/queues/q2"
    assert s.worker_url == "https://worker.example/"
    assert s.tasks_service_account.startswith("tasks@")
    assert (s.max_concurrent_per_user, s.min_prompt_length, s.max_prompt_length) == (5, 4, 100)
    assert (s.completed_job_retention_days, s.failed_job_retention_days) == (8, 31)
    assert (s.user_rate_limit, s.user_rate_window_seconds) == (7, 60)
    assert (s.ip_rate_limit, s.ip_rate_window_seconds) == (9, 120)
    assert s.cors_allowed_origins == ["https://app.example", "https://admin.example"]


def test_google_cloud_project_is_accepted_as_the_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROJECT_ID", raising=False)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "from-runtime")
    assert Settings().project_id == "from-runtime"


def test_invalid_limits_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_CONCURRENT_PER_USER", "0")
    with pytest.raises(ValueError, match="max_concurrent_per_user"):
        Settings()


def test_log_lines_are_cloud_logging_json_with_trace() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(CloudLoggingFormatter("proj"))
    logger = logging.getLogger("test.structured")
    logger.addHandler(handler)
    logger.propagate = False
    set_trace_from_header("abc123/456;o=1")
    try:
        logger.warning("job admitted", extra={"jobId": "j1", "userId": "u1"})
    finally:
        set_trace_from_header(None)
        logger.removeHandler(handler)
    entry = json.loads(stream.getvalue())
    assert entry["severity"] == "WARNING"
    assert entry["message"] == "job admitted"
    assert entry["jobId"] == "j1"
    assert entry["userId"] == "u1"
    assert entry["logging.googleapis.com/trace"] == "projects/proj/traces/abc123"
