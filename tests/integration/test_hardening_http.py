"""Issue 10 against Firestore itself (the emulator): the HTTP app over the real adapters.

Firestore is what raises on a reserved or malformed document id, so this is where "never a 500"
is proven for bad job ids and unusable uids; the auth edge is firebase-admin on its emulator path
(unsigned ID tokens from dev/tokens.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.api_core.exceptions import InvalidArgument
from qgen.adapters.firestore.names import ACTIVE_COUNTERS, JOBS, RATE_WINDOWS
from qgen.http.app import ApiApp

from tests.support.backends import FirestoreBackend
from tests.support.http_app import JSON, api, body_of, call, create, error_of

pytestmark = pytest.mark.integration

EMOJI = "\U0001f600"


@pytest.fixture
def app(db: Any, monkeypatch: pytest.MonkeyPatch) -> ApiApp:
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099")
    backend = FirestoreBackend(db)
    return api(backend.uow, backend.reader)


def _documents(db: Any, collection: str) -> list[str]:
    return [snapshot.id for snapshot in db.collection(collection).stream()]


def test_firestore_itself_refuses_reserved_ids(db: Any) -> None:
    """Why the edge must check: an id like this reaching Firestore is an exception, not a miss."""
    with pytest.raises(InvalidArgument, match="__x__"):
        db.collection(JOBS).document("__x__").get()


@pytest.mark.parametrize("job_id", ["__x__", "__name__", "____", "__a_b__", "x" * 1501, ".."])
def test_bad_job_ids_are_404_not_500(app: ApiApp, db: Any, job_id: str) -> None:
    for method, suffix in (("GET", ""), ("POST", "/cancel"), ("POST", "/retry")):
        error_of(call(app, method, f"/jobs/{job_id}{suffix}"), 404, "NOT_FOUND")
    assert _documents(db, JOBS) == []


@pytest.mark.parametrize("uid", ["a/b", ".", "..", "__x__", "__name__"])
def test_unusable_uids_are_refused_before_firestore(app: ApiApp, db: Any, uid: str) -> None:
    body = json.dumps({"prompt": "NATO alphabet"}).encode()
    for method, path in (("POST", "/jobs"), ("GET", "/jobs"), ("POST", "/jobs/abc/cancel")):
        response = call(app, method, path, uid=uid, content=body, headers=JSON)
        assert error_of(response, 403, "PERMISSION_DENIED")["details"] == {
            "reason": "UNSUPPORTED_USER_ID"
        }
    for collection in (JOBS, ACTIVE_COUNTERS, RATE_WINDOWS):
        assert _documents(db, collection) == [], collection


@pytest.mark.parametrize("uid", ["...", "___", "a.b", "émile", "x" * 128])
def test_unusual_uids_firestore_accepts_are_served(app: ApiApp, db: Any, uid: str) -> None:
    job = body_of(create(app, uid=uid), 202)
    listed = body_of(call(app, "GET", "/jobs", uid=uid), 200)["jobs"]
    assert [j["jobId"] for j in listed] == [job["jobId"]]
    assert db.collection(ACTIVE_COUNTERS).document(uid).get().get("activeJobs") == 1
    assert body_of(call(app, "POST", f"/jobs/{job['jobId']}/cancel", uid=uid), 200)


@pytest.mark.parametrize("ensure_ascii", [True, False], ids=["escaped-60kB", "utf8-20kB"])
def test_the_longest_emoji_prompt_is_stored(app: ApiApp, db: Any, ensure_ascii: bool) -> None:
    prompt = EMOJI * 5000
    body = json.dumps({"prompt": f"  {prompt}\n"}, ensure_ascii=ensure_ascii).encode()
    job = body_of(call(app, "POST", "/jobs", content=body, headers=JSON), 202)
    assert db.collection(JOBS).document(job["jobId"]).get().get("prompt") == prompt
