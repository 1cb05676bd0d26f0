"""Issue 10 over real HTTP: functions-framework, the Firestore and Cloud Tasks emulators."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import bearer

pytestmark = pytest.mark.e2e

JSON = {"Content-Type": "application/json"}
EMOJI = "\U0001f600"
LIMIT = 5000 * 12 + 4096  # the default MAX_BODY_BYTES, derived from MAX_PROMPT_LENGTH


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "Traceback" not in response.text
    error = response.json()["error"]
    assert error["code"] == code
    return dict(error)


def _in_chunks(body: bytes) -> Iterator[bytes]:
    for start in range(0, len(body), 4096):
        yield body[start : start + 4096]


def test_the_longest_prompt_in_its_costliest_encoding_is_accepted(api: httpx.Client) -> None:
    body = json.dumps({"prompt": " " * 100 + EMOJI * 5000 + "\n" * 100}).encode()
    assert 60_000 < len(body) <= LIMIT
    for content in (body, _in_chunks(body)):
        response = api.post("/jobs", content=content, headers={**bearer("alice"), **JSON})
        assert response.status_code == 202, response.text
        assert response.json()["prompt"] == EMOJI * 5000
        job_id = response.json()["jobId"]
        assert api.post(f"/jobs/{job_id}/cancel", headers=bearer("alice")).status_code == 200


def test_a_larger_body_is_413_with_or_without_content_length(api: httpx.Client) -> None:
    body = json.dumps({"prompt": "x" * LIMIT}).encode()
    for content in (body, _in_chunks(body)):
        response = api.post("/jobs", content=content, headers={**bearer("alice"), **JSON})
        assert _error(response, 413, "PAYLOAD_TOO_LARGE")["details"] == {"maxBytes": LIMIT}
    assert api.get("/jobs", headers=bearer("alice")).json() == {"jobs": []}


# "." and ".." percent-encoded: a client would resolve them as path segments before sending.
@pytest.mark.parametrize(
    "job_id", ["__x__", "__name__", "____", "%2E", "%2E%2E", "a%2Fb", "%2F", "x" * 1501]
)
def test_ids_firestore_reserves_are_404(api: httpx.Client, job_id: str) -> None:
    auth = bearer("alice")
    _error(api.get(f"/jobs/{job_id}", headers=auth), 404, "NOT_FOUND")
    _error(api.post(f"/jobs/{job_id}/cancel", headers=auth), 404, "NOT_FOUND")
    _error(api.post(f"/jobs/{job_id}/retry", headers=auth), 404, "NOT_FOUND")


@pytest.mark.parametrize("uid", ["a/b", "..", "__x__"])
def test_uids_firestore_cannot_store_are_403(api: httpx.Client, uid: str) -> None:
    created = api.post("/jobs", json={"prompt": "NATO alphabet"}, headers=bearer(uid))
    assert _error(created, 403, "PERMISSION_DENIED")["details"] == {"reason": "UNSUPPORTED_USER_ID"}
    _error(api.get("/jobs", headers=bearer(uid)), 403, "PERMISSION_DENIED")


# A device id never names a document. One that no route takes (a line break followed by more:
# functions-framework routes no such path) is 404 NOT_FOUND; any other is an unknown device,
# whose removal changes nothing (200).
@pytest.mark.parametrize(
    ("device_id", "status"),
    [("a%0Ab", 404), ("%0Ax", 404), ("__x__", 200), ("x" * 1501, 200), ("%2E%2E", 200)],
)
def test_hostile_device_ids_are_a_stable_4xx_or_an_idempotent_no_op(
    api: httpx.Client, device_id: str, status: int
) -> None:
    response = api.delete(f"/devices/{device_id}", headers=bearer("alice"))
    if status == 404:
        _error(response, 404, "NOT_FOUND")
    else:
        assert response.status_code == 200, response.text
        assert response.json()["devices"] == []
