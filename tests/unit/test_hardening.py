"""Issue 10, hardening of the api's edges, through the HTTP app on the in-memory ports.

Bad job ids, uids Firestore cannot store, and a body limit that follows the prompt limit. The
auth edge is the real firebase-admin on its emulator path (unsigned tokens). The same requests
against Firestore itself (which is what raises on a reserved id) are in
tests/integration/test_hardening_http.py.
"""

from __future__ import annotations

import json

import pytest
from qgen.adapters.auth import is_document_id, usable_uid
from qgen.config import Settings
from qgen.domain.errors import DomainError, ErrorCode
from qgen.http.app import ApiApp

from tests.support.fakes import MemoryStore
from tests.support.http_app import JSON, PROJECT, api, body_of, call, create, error_of

EMOJI = "\U0001f600"  # 4 bytes in UTF-8, 12 as a JSON escape ("\ud83d\ude00")


@pytest.fixture(autouse=True)
def auth_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    # firebase-admin accepts unsigned tokens while this is set; no emulator process is needed.
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099")


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def app(store: MemoryStore) -> ApiApp:
    return api(store, store)


# ----- 1. job ids ------------------------------------------------------------------------------

BAD_JOB_IDS = [
    "__x__",
    "__name__",
    "____",
    "__.*__",
    ".",
    "..",
    "a.b",
    "%2F",  # an encoded "/": the path /jobs// routes nowhere
    "a%2Fb",
    "a%0A",  # a trailing newline, which `$` alone would let through
    "%00",
    "x" * 129,
    "x" * 1501,
    "\u00e9" * 10,
]


@pytest.mark.parametrize("job_id", BAD_JOB_IDS)
@pytest.mark.parametrize(
    ("method", "suffix"), [("GET", ""), ("POST", "/cancel"), ("POST", "/retry")]
)
def test_an_id_we_never_issue_is_not_found(
    app: ApiApp, store: MemoryStore, job_id: str, method: str, suffix: str
) -> None:
    error = error_of(call(app, method, f"/jobs/{job_id}{suffix}"), 404, "NOT_FOUND")
    assert error["message"] in ("No such job.", "No such endpoint.")
    assert not store.state.jobs


def test_issued_ids_still_work(app: ApiApp) -> None:
    job_id = body_of(create(app), 202)["jobId"]
    assert body_of(call(app, "GET", f"/jobs/{job_id}"), 200)["jobId"] == job_id
    assert body_of(call(app, "POST", f"/jobs/{job_id}/cancel"), 200)["status"] == "cancelled"
    # Two underscores (not the reserved __.*__ form) and 128 characters are still shapes we allow.
    for job_id in ("__", "_a_", "x" * 128):
        error_of(call(app, "GET", f"/jobs/{job_id}"), 404, "NOT_FOUND")


# ----- 2. uids ---------------------------------------------------------------------------------

BAD_UIDS = ["a/b", "/", ".", "..", "__x__", "__name__", "tab\there", "nul\x00", "\ud800"]
ENDPOINTS = [
    ("POST", "/jobs"),
    ("GET", "/jobs"),
    ("GET", "/jobs/abc"),
    ("POST", "/jobs/abc/cancel"),
    ("POST", "/jobs/abc/retry"),
]


@pytest.mark.parametrize("uid", BAD_UIDS)
def test_a_uid_firestore_cannot_store_is_refused_with_403(
    app: ApiApp, store: MemoryStore, uid: str
) -> None:
    body = json.dumps({"prompt": "NATO alphabet"}).encode()
    for method, path in ENDPOINTS:
        response = call(app, method, path, uid=uid, content=body, headers=JSON)
        error = error_of(response, 403, "PERMISSION_DENIED")
        assert error["details"] == {"reason": "UNSUPPORTED_USER_ID"}
    assert not store.state.jobs
    assert not store.state.counters
    assert not store.state.windows


def test_a_uid_longer_than_firebase_allows_is_not_a_valid_token(app: ApiApp) -> None:
    # firebase-admin itself refuses a "sub" over 128 characters.
    error_of(create(app, uid="x" * 129), 401, "UNAUTHENTICATED")


@pytest.mark.parametrize("uid", ["...", "___", "__", "a.b", "émile", "用户", "x" * 128, "a b"])
def test_unusual_but_storable_uids_are_served(app: ApiApp, store: MemoryStore, uid: str) -> None:
    job = body_of(create(app, uid=uid), 202)
    assert job["userId"] == uid
    assert [j["jobId"] for j in body_of(call(app, "GET", "/jobs", uid=uid), 200)["jobs"]] == [
        job["jobId"]
    ]
    assert store.state.counters[uid] == 1


def test_document_id_rules() -> None:
    for good in ("a", "...", "___", "a.b", "é" * 750, "x" * 1500):
        assert is_document_id(good), good
    for bad in ("", ".", "..", "a/b", "__x__", "____", "__\n__", "é" * 751, "x" * 1501, "\udfff"):
        assert not is_document_id(bad), bad


def test_usable_uid_codes() -> None:
    for missing in (None, "", 42):
        with pytest.raises(DomainError) as caught:
            usable_uid(missing)
        assert caught.value.code is ErrorCode.UNAUTHENTICATED
    for unusable in ("x" * 129, "a/b", "\x7f", "\x85"):
        with pytest.raises(DomainError) as caught:
            usable_uid(unusable)
        assert caught.value.code is ErrorCode.PERMISSION_DENIED
    assert usable_uid("firebase-uid-28-characters-x") == "firebase-uid-28-characters-x"


# ----- 3. the body limit follows the prompt limit ---------------------------------------------


def test_the_default_body_limit_is_derived_from_the_prompt_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MAX_BODY_BYTES", raising=False)
    monkeypatch.delenv("MAX_PROMPT_LENGTH", raising=False)
    assert Settings().max_body_bytes == 5000 * 12 + 4096
    monkeypatch.setenv("MAX_PROMPT_LENGTH", "100")
    assert Settings().max_body_bytes == 100 * 12 + 4096
    monkeypatch.setenv("MAX_BODY_BYTES", "200000")
    assert Settings().max_body_bytes == 200_000
    monkeypatch.setenv("MAX_BODY_BYTES", "5295")  # one byte short of 100 * 12 + 4096
    with pytest.raises(ValueError, match="max_body_bytes"):
        Settings()


def _longest(prompt_character: str) -> str:
    return prompt_character * 5000


@pytest.mark.parametrize(
    "body",
    [
        # 5,000 emoji as raw UTF-8: 20 kB.
        json.dumps({"prompt": _longest(EMOJI)}, ensure_ascii=False).encode(),
        # 5,000 emoji as surrogate-pair escapes: 60 kB, the worst any character can do.
        json.dumps({"prompt": _longest(EMOJI)}).encode(),
        # "é" as \u00e9: 30 kB.
        json.dumps({"prompt": _longest("é")}).encode(),
        # The worst case with what trimming removes: 4,000 bytes of whitespace around the prompt,
        # pretty-printed.
        (
            '{\n  "prompt": "'
            + " " * 1990
            + "\\n" * 5
            + json.dumps(_longest(EMOJI))[1:-1]
            + "\\t" * 5
            + " " * 1950
            + '"\n}\n'
        ).encode(),
    ],
    ids=["emoji-utf8", "emoji-escaped", "e-acute-escaped", "escaped-with-whitespace"],
)
def test_the_longest_valid_prompt_fits_in_any_encoding(
    app: ApiApp, store: MemoryStore, body: bytes
) -> None:
    for chunked in (False, True):
        response = call(app, "POST", "/jobs", content=body, headers=JSON, chunked=chunked)
        job = body_of(response, 202)
        assert len(job["prompt"]) == 5000
        assert set(job["prompt"]) <= {EMOJI, "é"}
        call(app, "POST", f"/jobs/{job['jobId']}/cancel")
    assert len(store.state.jobs) == 2


def test_a_body_over_the_limit_is_413_with_or_without_content_length(app: ApiApp) -> None:
    limit = Settings(project_id=PROJECT).max_body_bytes
    at_limit = json.dumps({"prompt": "x" * (limit - 14)}).encode()
    assert len(at_limit) == limit
    over = json.dumps({"prompt": "x" * (limit - 13)}).encode()
    for chunked in (False, True):
        # At the limit the body is read, and the prompt is what is too long.
        response = call(app, "POST", "/jobs", content=at_limit, headers=JSON, chunked=chunked)
        error_of(response, 400, "PROMPT_TOO_LONG")
        response = call(app, "POST", "/jobs", content=over, headers=JSON, chunked=chunked)
        assert error_of(response, 413, "PAYLOAD_TOO_LARGE")["details"] == {"maxBytes": limit}
    # One character over the prompt limit, in the costliest encoding, is a prompt error.
    too_long = json.dumps({"prompt": EMOJI * 5001}).encode()
    error_of(call(app, "POST", "/jobs", content=too_long, headers=JSON), 400, "PROMPT_TOO_LONG")


def test_a_smaller_prompt_limit_gives_a_smaller_body_limit(store: MemoryStore) -> None:
    small = api(store, store, settings=Settings(project_id=PROJECT, max_prompt_length=100))
    fits = json.dumps({"prompt": EMOJI * 100}).encode()
    assert body_of(call(small, "POST", "/jobs", content=fits, headers=JSON), 202)
    over = json.dumps({"prompt": "x" * 5296}).encode()
    error_of(call(small, "POST", "/jobs", content=over, headers=JSON), 413, "PAYLOAD_TOO_LARGE")
