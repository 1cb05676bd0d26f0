"""The api function over real HTTP: functions-framework, Firestore and Cloud Tasks emulators."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from dev.stack import Stack
from tests.e2e.conftest import bearer

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
JSON = {"Content-Type": "application/json"}


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert "Traceback" not in response.text
    return dict(body["error"])


def create(
    client: httpx.Client, uid: str = "alice", prompt: str = "NATO alphabet", **headers: str
) -> httpx.Response:
    return client.post("/jobs", json={"prompt": prompt}, headers={**bearer(uid), **headers})


# ----- happy path ----------------------------------------------------------------------------


def test_health(api: httpx.Client) -> None:
    response = api.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_create_read_list_cancel(api: httpx.Client) -> None:
    created = create(api, prompt="  NATO alphabet  ")
    assert created.status_code == 202, created.text
    job = created.json()
    assert job["status"] == "pending"
    assert job["prompt"] == "NATO alphabet"
    assert job["userId"] == "alice"
    assert created.headers["Location"] == f"/jobs/{job['jobId']}"
    assert created.headers["Cache-Control"] == "no-store"
    assert "ipAddress" not in job

    fetched = api.get(f"/jobs/{job['jobId']}", headers=bearer("alice"))
    assert fetched.status_code == 200
    assert fetched.json() == job

    listed = api.get("/jobs", headers=bearer("alice")).json()["jobs"]
    assert [j["jobId"] for j in listed] == [job["jobId"]]
    assert api.get("/jobs", headers=bearer("bob")).json() == {"jobs": []}

    cancelled = api.post(f"/jobs/{job['jobId']}/cancel", headers=bearer("alice"))
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    again = api.post(f"/jobs/{job['jobId']}/cancel", headers=bearer("alice"))
    assert assert_error(again, 409, "NOT_CANCELLABLE")["details"] == {"status": "cancelled"}


def test_other_users_jobs_are_invisible(api: httpx.Client) -> None:
    job_id = create(api, uid="alice").json()["jobId"]
    assert_error(api.get(f"/jobs/{job_id}", headers=bearer("bob")), 404, "NOT_FOUND")
    assert_error(api.post(f"/jobs/{job_id}/cancel", headers=bearer("bob")), 404, "NOT_FOUND")
    assert_error(api.get("/jobs/does-not-exist", headers=bearer("alice")), 404, "NOT_FOUND")
    assert_error(api.get("/jobs/..%2F..", headers=bearer("alice")), 404, "NOT_FOUND")
    assert api.get(f"/jobs/{job_id}", headers=bearer("alice")).json()["status"] == "pending"


def test_list_limit(api: httpx.Client) -> None:
    for topic in ("one", "two", "three"):
        assert create(api, prompt=f"topic {topic}").status_code == 202
    jobs = api.get("/jobs", params={"limit": 2}, headers=bearer("alice")).json()["jobs"]
    assert [j["prompt"] for j in jobs] == ["topic three", "topic two"]
    for bad in ("0", "51", "abc", "-1", "1.5", "²"):
        response = api.get("/jobs", params={"limit": bad}, headers=bearer("alice"))
        assert_error(response, 400, "INVALID_ARGUMENT")
    unknown = api.get("/jobs", params={"limitt": "2"}, headers=bearer("alice"))
    assert assert_error(unknown, 400, "INVALID_ARGUMENT")["details"] == {"field": "limitt"}


# ----- authentication ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
        bearer("alice", project_id="some-other-project"),
    ],
    ids=["missing", "empty", "garbage", "basic", "other-project"],
)
def test_requests_without_a_valid_token_are_refused(
    api: httpx.Client, headers: dict[str, str]
) -> None:
    for method, path in (("POST", "/jobs"), ("GET", "/jobs"), ("GET", "/jobs/x")):
        response = api.request(method, path, json={"prompt": "NATO alphabet"}, headers=headers)
        assert_error(response, 401, "UNAUTHENTICATED")


# ----- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "headers", "status", "code"),
    [
        (b'{"prompt": "NATO"}', {"Content-Type": "text/plain"}, 415, "UNSUPPORTED_MEDIA_TYPE"),
        (
            b"prompt=NATO",
            {"Content-Type": "application/x-www-form-urlencoded"},
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (b'{"prompt": "NATO"}', {}, 415, "UNSUPPORTED_MEDIA_TYPE"),
        (b"{not json", JSON, 400, "INVALID_ARGUMENT"),
        (b"", JSON, 400, "INVALID_ARGUMENT"),
        (b"[]", JSON, 400, "INVALID_ARGUMENT"),
        (b'"NATO alphabet"', JSON, 400, "INVALID_ARGUMENT"),
        (b"{}", JSON, 400, "INVALID_ARGUMENT"),
        (b'{"prompt": null}', JSON, 400, "INVALID_ARGUMENT"),
        (b'{"prompt": 42}', JSON, 400, "INVALID_ARGUMENT"),
        (b'{"prompt": ["NATO"]}', JSON, 400, "INVALID_ARGUMENT"),
        (b'{"prompt": "NATO", "extra": 1}', JSON, 400, "INVALID_ARGUMENT"),
        (b'{"prompt": "\xff\xfe NATO"}', JSON, 400, "INVALID_ARGUMENT"),
        (b'{"prompt": "  a  "}', JSON, 400, "PROMPT_TOO_SHORT"),
        (json.dumps({"prompt": "x" * 5001}).encode(), JSON, 400, "PROMPT_TOO_LONG"),
        (json.dumps({"prompt": "x" * 70000}).encode(), JSON, 413, "PAYLOAD_TOO_LARGE"),
    ],
)
def test_bad_bodies_get_stable_4xx_codes_and_write_nothing(
    api: httpx.Client, content: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    response = api.post("/jobs", content=content, headers={**bearer("alice"), **headers})
    assert_error(response, status, code)
    assert api.get("/jobs", headers=bearer("alice")).json() == {"jobs": []}


def test_prompt_length_boundaries_count_after_trimming(api: httpx.Client) -> None:
    assert create(api, prompt="  abc  ").status_code == 202
    assert create(api, prompt=" " + "y" * 5000 + " ").status_code == 202


def test_oversized_body_without_content_length_is_refused(api: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"prompt": "'
        for _ in range(70):
            yield b"x" * 1024
        yield b'"}'

    response = api.post("/jobs", content=chunks(), headers={**bearer("alice"), **JSON})
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


def test_unknown_routes_and_methods(api: httpx.Client) -> None:
    assert_error(api.get("/nope", headers=bearer("alice")), 404, "NOT_FOUND")
    error = assert_error(api.delete("/jobs", headers=bearer("alice")), 405, "METHOD_NOT_ALLOWED")
    assert error["details"]["allowed"] == ["GET", "HEAD", "POST"]
    assert_error(api.put("/jobs/abc", headers=bearer("alice")), 405, "METHOD_NOT_ALLOWED")


# ----- limits under concurrency --------------------------------------------------------------


def test_parallel_burst_of_ten_admits_exactly_three(
    api: httpx.Client, spawn_api: Callable[..., str]
) -> None:
    # Half the burst goes to a second api instance: only Firestore can keep them consistent.
    second = httpx.Client(base_url=spawn_api(), timeout=60)
    clients = [api, second]
    with second, ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(lambda i: create(clients[i % 2], prompt=f"topic {i}"), range(10)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [202] * 3 + [429] * 7, [r.text for r in responses]
    for response in responses:
        if response.status_code == 429:
            assert_error(response, 429, "CONCURRENCY_LIMIT")
    assert len(api.get("/jobs", headers=bearer("alice")).json()["jobs"]) == 3


def test_rate_limits_per_user_and_per_forwarded_ip(
    stack: Stack, db: Any, spawn_api: Callable[..., str]
) -> None:
    url = spawn_api(user_rate_limit="2", ip_rate_limit="3", max_concurrent_per_user="10")
    with httpx.Client(base_url=url, timeout=60) as client:
        ip = {"X-Forwarded-For": "6.6.6.6, 198.51.100.1"}
        assert create(client, "alice", **ip).status_code == 202
        assert create(client, "alice", **ip).status_code == 202
        limited = create(client, "alice", **ip)
        error = assert_error(limited, 429, "RATE_LIMITED")
        assert error["details"]["scope"] == "user"
        assert 0 < int(limited.headers["Retry-After"]) <= 3600
        # The IP window counted alice's two admitted jobs, not the rejection.
        assert create(client, "bob", **ip).status_code == 202
        error = assert_error(create(client, "carol", **ip), 429, "RATE_LIMITED")
        assert error["details"]["scope"] == "ip"
        # The forged left-hand entry is not trusted: only the last one is the client.
        other = {"X-Forwarded-For": "198.51.100.1, 198.51.100.2"}
        assert create(client, "carol", **other).status_code == 202


def test_idempotency_key_returns_the_same_job(api: httpx.Client) -> None:
    first = create(api, **{"Idempotency-Key": "req-1"})
    again = create(api, **{"Idempotency-Key": "req-1"})
    assert first.status_code == again.status_code == 202
    assert again.json()["jobId"] == first.json()["jobId"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert len(api.get("/jobs", headers=bearer("alice")).json()["jobs"]) == 1
    reused = create(api, prompt="React hooks", **{"Idempotency-Key": "req-1"})
    assert_error(reused, 422, "IDEMPOTENCY_KEY_REUSED")


# ----- the queue -----------------------------------------------------------------------------


def test_created_job_is_dispatched_by_cloud_tasks_to_the_worker_url(
    api: httpx.Client, parked_worker: tuple[str, list[dict[str, Any]]]
) -> None:
    _, received = parked_worker
    job_id = create(api).json()["jobId"]
    deadline = time.monotonic() + 10
    mine: list[dict[str, Any]] = []
    while not mine and time.monotonic() < deadline:
        mine = [t for t in list(received) if json.loads(t["body"]) == {"jobId": job_id}]
        time.sleep(0.1)
    assert len(mine) == 1, "the Cloud Tasks emulator should deliver exactly one task"
    (task,) = mine
    assert task["headers"]["x-cloudtasks-taskname"] == f"{job_id}-run0"
    assert task["headers"]["content-type"] == "application/json"
    assert task["headers"]["x-cloudtasks-queuename"].endswith("question-generation")


def test_unreachable_queue_fails_the_job_and_answers_503(
    db: Any, spawn_api: Callable[..., str]
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{closed.getsockname()[1]}"
    url = spawn_api(tasks_emulator_host=dead, tasks_enqueue_timeout_seconds="2")
    with httpx.Client(base_url=url, timeout=60) as client:
        response = create(client)
        error = assert_error(response, 503, "QUEUE_UNAVAILABLE")
        assert response.headers["Retry-After"]
        job = client.get(f"/jobs/{error['details']['jobId']}", headers=bearer("alice")).json()
        assert job["status"] == "failed"
        assert job["errorCode"] == "QUEUE_UNAVAILABLE"
        assert job["retryable"] is True
        # The slot was released: three more jobs fit (they fail the same way, honestly).
        for _ in range(3):
            assert_error(create(client), 503, "QUEUE_UNAVAILABLE")


def test_cleanup_answers_only_the_scheduler(stack: Stack) -> None:
    url = stack.config.cleanup_url
    assert_error(httpx.post(url, json={}), 403, "PERMISSION_DENIED")
    scheduler = {"X-CloudScheduler": "true"}
    assert_error(httpx.post(url, json={"mode": "nope"}, headers=scheduler), 400, "INVALID_ARGUMENT")
    assert_error(httpx.get(url, headers=scheduler), 405, "METHOD_NOT_ALLOWED")
    ran = httpx.post(url, json={"mode": "recovery"}, headers=scheduler, timeout=60)
    assert ran.status_code == 200, ran.text
    assert ran.json()["mode"] == "recovery"


def test_worker_refuses_callers_that_are_not_the_queue(stack: Stack) -> None:
    url = stack.config.worker_url
    assert_error(httpx.post(url, json={"jobId": "x"}), 403, "PERMISSION_DENIED")
    wrong_queue = {"X-CloudTasks-QueueName": "some-other-queue"}
    assert_error(
        httpx.post(url, json={"jobId": "x"}, headers=wrong_queue), 403, "PERMISSION_DENIED"
    )
    assert_error(httpx.get(url), 405, "METHOD_NOT_ALLOWED")


# ----- CORS ----------------------------------------------------------------------------------


def test_cors_preflight_and_response_headers(api: httpx.Client) -> None:
    origin = {"Origin": "http://localhost:5173"}
    preflight = api.options(
        "/jobs",
        headers={
            **origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    allowed = preflight.headers["Access-Control-Allow-Methods"].split(", ")
    # Every method a route takes: the devices API's PUT and DELETE too.
    assert {"GET", "POST", "PUT", "DELETE", "OPTIONS"} <= set(allowed)
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    listed = api.get("/jobs", headers={**origin, **bearer("alice")})
    assert listed.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    denied = api.options("/jobs", headers={"Origin": "https://evil.example"})
    assert_error(denied, 403, "ORIGIN_NOT_ALLOWED")
    assert "Access-Control-Allow-Origin" not in denied.headers
    plain = api.get("/jobs", headers={"Origin": "https://evil.example", **bearer("alice")})
    assert "Access-Control-Allow-Origin" not in plain.headers


# ----- OpenAPI -------------------------------------------------------------------------------


def test_served_openapi_matches_the_committed_document(api: httpx.Client) -> None:
    served = api.get("/openapi.json")
    assert served.status_code == 200
    assert served.json() == json.loads((ROOT / "docs" / "openapi.json").read_text())


def test_a_learner_sees_their_limits(api: httpx.Client) -> None:
    assert create(api).status_code == 202
    response = api.get("/limits", headers=bearer("alice"))
    assert response.status_code == 200, response.text
    limits = response.json()
    assert limits["activeJobs"]["used"] >= 0
    assert limits["activeJobs"]["limit"] == 3
    assert limits["hourlyJobs"]["used"] == 1
    tokens = limits["dailyTokens"]
    assert tokens["reserved"] + tokens["spent"] > 0
    assert tokens["remaining"] == tokens["limit"] - tokens["reserved"] - tokens["spent"]
    assert api.get("/limits").status_code == 401
