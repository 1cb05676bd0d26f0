"""Only Cloud Tasks may call the worker: qgen.adapters.task_auth.verify_caller, for real.

In "oidc" mode nothing here is faked inside the process: google-auth's
``id_token.verify_oauth2_token`` downloads Google's OAuth2 certificates from
``https://www.googleapis.com/oauth2/v1/certs`` through the module's cachecontrol-wrapped
``requests`` session, exactly as in production. The test environment only decides where that
HTTPS request goes (tests/support/fake_google_certs.py):

* ``HTTPS_PROXY`` points at a loopback proxy that answers ``CONNECT www.googleapis.com:443``
  itself, terminates TLS with a certificate from a throwaway CA and serves ``{kid: certificate}``
  for RSA keys generated here - which therefore sign the "Cloud Tasks" OIDC tokens below;
* ``REQUESTS_CA_BUNDLE`` names that CA, so TLS is verified as usual and nothing else is trusted.

task_auth keeps one ``requests`` session (and so one certificate cache) per process. The
in-process tests share one proxy and one key set, and start from a cold cache of their own
(``fresh_google_session``), so their order does not matter; the cases that need a cold cache
and a different endpoint (down, unreachable) run in a fresh interpreter. An audit hook fails any
test that resolves or connects to a non-loopback address.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from flask import Request
from qgen.adapters import task_auth
from qgen.adapters.task_auth import verify_caller, verify_scheduler
from qgen.config import Settings
from qgen.domain.errors import DomainError, ErrorCode
from qgen.http.worker_app import WorkerApp
from qgen.services.worker import DeliveryOutcome, DeliveryResult
from werkzeug.datastructures import Headers
from werkzeug.test import EnvironBuilder

from tests.support import fake_google as fakes
from tests.support.fake_google_certs import (
    CERTS_HOST,
    OAUTH2_CERTS_URL,
    compact_jwt,
    oidc_token_claims,
    refused_proxy_url,
    signing_input,
)

pytestmark = pytest.mark.integration

PROJECT = "proj"
WORKER_URL = "https://worker.example/"
TASKS_SA = "tasks@proj.iam.gserviceaccount.com"
OTHER_SA = "intruder@proj.iam.gserviceaccount.com"
JOB_ID = "job-123"
LOCAL_QUEUE_IN_REGION = "locations/europe-west1/queues/question-generation"
DEFAULT_REGION_QUEUE = "locations/us-central1/queues/question-generation"  # not the one set


def oidc_settings() -> Settings:
    return Settings(
        project_id=PROJECT,
        worker_caller_check="oidc",
        worker_url=WORKER_URL,
        tasks_service_account=TASKS_SA,
    )


def local_settings() -> Settings:
    return Settings(
        project_id=PROJECT,
        worker_caller_check="local",
        tasks_location="europe-west1",
        tasks_queue="question-generation",
    )


def _cloud_tasks_claims() -> dict[str, Any]:
    """What Cloud Tasks attaches for the tasks service account."""
    return oidc_token_claims(audience=WORKER_URL, email=TASKS_SA, issued_at=int(time.time()) - 5)


@pytest.fixture(scope="module")
def google(tmp_path_factory: pytest.TempPathFactory) -> Iterator[fakes.FakeGoogle]:
    with fakes.fake_google(
        tmp_path_factory.mktemp("fake-google-oauth2"),
        kid_prefix="oauth2-kid",
        common_name="oauth2.test",
        default_claims=_cloud_tasks_claims,
        oauth2=True,
    ) as google:
        yield google


@pytest.fixture(scope="module")
def fresh_google_session(google: fakes.FakeGoogle) -> Iterator[None]:
    """A cold certificate cache for this module, and the previous session back afterwards.

    task_auth builds its session lazily into ``_request``; starting from ``None`` makes it build
    a new one (as a new instance would), so a certificate cached by an earlier module, for other
    keys, cannot decide these tests, and the certificates cached here do not outlive them.
    """
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(task_auth, "_request", None)
        yield


@pytest.fixture(autouse=True)
def loopback(google: fakes.FakeGoogle, fresh_google_session: None) -> Iterator[None]:
    with fakes.staying_on_loopback():
        yield


def _headers(authorization: str | None = None, **extra: str) -> Headers:
    headers = Headers(extra)
    if authorization is not None:
        headers["Authorization"] = authorization
    return headers


def _bearer(token: str) -> Headers:
    return _headers(f"Bearer {token}")


def _rejected(headers: Headers, settings: Settings | None = None) -> DomainError:
    with pytest.raises(DomainError) as caught:
        verify_caller(headers, settings or oidc_settings())
    return caught.value


# --- oidc: accepted --------------------------------------------------------------------------


def test_cloud_tasks_oidc_token_is_accepted_after_fetching_google_oauth2_certs(
    google: fakes.FakeGoogle,
) -> None:
    for key in google.published:  # either published key may have signed it
        assert verify_caller(_bearer(key.sign(google.claims())), oidc_settings()) is None
    # The keys exist only in this test, so the signature was checked against the document the
    # proxy served over the TLS tunnel to www.googleapis.com/oauth2/v1/certs.
    assert google.proxy.oauth2_certificate_fetches >= 1, google.proxy.log
    assert f"CONNECT {CERTS_HOST}:443" in google.proxy.log
    assert f"GET {OAUTH2_CERTS_URL}" in google.proxy.log


def test_certificates_are_fetched_once_per_instance_not_per_task(google: fakes.FakeGoogle) -> None:
    for _ in range(5):
        verify_caller(_bearer(google.token()), oidc_settings())
    # One fetch for the whole module (cold cache at its start), whatever ran before this test.
    assert google.proxy.oauth2_certificate_fetches == 1, google.proxy.log


@pytest.mark.parametrize("issuer", ["https://accounts.google.com", "accounts.google.com"])
def test_both_google_issuer_spellings_are_accepted(google: fakes.FakeGoogle, issuer: str) -> None:
    verify_caller(_bearer(google.token(iss=issuer)), oidc_settings())


# --- oidc: UNAUTHENTICATED (not a valid Google token for the worker) ---------------------------


@pytest.mark.parametrize(
    "audience",
    ["https://other.example/", "https://worker.example", "proj", [WORKER_URL]],
    ids=["other-url", "no-trailing-slash", "project-id", "list"],
)
def test_token_for_another_audience_is_rejected(google: fakes.FakeGoogle, audience: Any) -> None:
    error = _rejected(_bearer(google.token(aud=audience)))
    fakes.assert_unauthenticated(error, reason="wrong audience")


def test_expired_token_is_rejected(google: fakes.FakeGoogle) -> None:
    issued = int(time.time()) - 7200
    error = _rejected(_bearer(google.token(iat=issued, exp=issued + 3600)))
    fakes.assert_unauthenticated(error, reason="Token expired")


def test_token_issued_in_the_future_is_rejected(google: fakes.FakeGoogle) -> None:
    issued = int(time.time()) + 600
    error = _rejected(_bearer(google.token(iat=issued, exp=issued + 3600)))
    fakes.assert_unauthenticated(error, reason="Token used too early")


def test_token_signed_by_another_key_under_a_published_kid_is_rejected(
    google: fakes.FakeGoogle,
) -> None:
    forged = google.rogue.sign(google.claims(), kid=google.key.kid)
    error = _rejected(_bearer(forged))
    fakes.assert_unauthenticated(error, reason="Could not verify token signature")


def test_token_with_a_tampered_payload_is_rejected(google: fakes.FakeGoogle) -> None:
    header, _, signature = google.token(email=OTHER_SA).split(".")
    _, claims, _ = google.token().split(".")  # the tasks SA's claims, OTHER_SA's signature
    error = _rejected(_bearer(f"{header}.{claims}.{signature}"))
    fakes.assert_unauthenticated(error, reason="Could not verify token signature")


def test_token_with_unknown_kid_is_rejected(google: fakes.FakeGoogle) -> None:
    error = _rejected(_bearer(google.rogue.sign(google.claims())))
    fakes.assert_unauthenticated(error, reason=f"key id {google.rogue.kid} not found")


@pytest.mark.parametrize("with_kid", [False, True], ids=["no-kid", "published-kid"])
def test_unsigned_alg_none_token_is_rejected(google: fakes.FakeGoogle, with_kid: bool) -> None:
    header: dict[str, Any] = {"alg": "none", "typ": "JWT"}
    if with_kid:
        header["kid"] = google.key.kid
    error = _rejected(_bearer(compact_jwt(header, google.claims(), b"")))
    fakes.assert_unauthenticated(error, reason="Unsupported signature algorithm none")


def test_hs256_token_keyed_with_a_published_certificate_is_rejected(
    google: fakes.FakeGoogle,
) -> None:
    # Algorithm confusion: an HMAC "signature" whose secret is public (the published cert).
    header = {"alg": "HS256", "kid": google.key.kid, "typ": "JWT"}
    claims = google.claims()
    secret = google.key.certificate_pem.encode()
    signature = hmac.new(secret, signing_input(header, claims), hashlib.sha256).digest()
    error = _rejected(_bearer(compact_jwt(header, claims, signature)))
    fakes.assert_unauthenticated(error, reason="Unsupported signature algorithm HS256")


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer   ", "Basic dGFza3M6cHc=", "Token abc.def.ghi"],
    ids=["missing", "empty", "scheme-only", "scheme-and-spaces", "basic", "other-scheme"],
)
def test_missing_or_non_bearer_authorization_is_rejected(
    google: fakes.FakeGoogle, authorization: str | None
) -> None:
    fetches = google.proxy.oauth2_certificate_fetches
    error = _rejected(_headers(authorization))
    assert error.code is ErrorCode.UNAUTHENTICATED
    assert error.__cause__ is None  # refused before any token handling
    assert google.proxy.oauth2_certificate_fetches == fetches


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("not-a-jwt", "Wrong number of segments"),
        ("a.b.c", ""),  # bad base64: binascii's message varies
        ("Zm9v.YmFy.YmF6", "Can't parse segment"),
        ("W10.W10.YmF6", "Header segment should be a JSON object"),
    ],
    ids=["no-dots", "bad-base64", "base64-but-not-json", "json-but-not-object"],
)
def test_garbage_bearer_token_is_rejected(
    google: fakes.FakeGoogle, token: str, reason: str
) -> None:
    fakes.assert_unauthenticated(_rejected(_bearer(token)), reason=reason)


@pytest.mark.parametrize(
    ("issuer", "reason"),
    [(f"https://securetoken.google.com/{PROJECT}", "Wrong issuer"), (None, "iss")],
    ids=["other-issuer", "no-issuer"],
)
def test_google_signed_token_from_another_issuer_is_rejected(
    google: fakes.FakeGoogle, issuer: str | None, reason: str
) -> None:
    claims = google.claims(iss=issuer)
    if issuer is None:
        del claims["iss"]
    fakes.assert_unauthenticated(_rejected(_bearer(google.key.sign(claims))), reason=reason)


# --- oidc: PERMISSION_DENIED (a valid Google token, but not Cloud Tasks' identity) -------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"email": OTHER_SA},
        {"email": TASKS_SA.upper()},
        {"email_verified": False},
        {"email_verified": None},
        {"email": None},
    ],
    ids=[
        "other-service-account",
        "email-case-differs",
        "unverified",
        "verified-missing",
        "no-email",
    ],
)
def test_valid_token_for_another_identity_is_denied(
    google: fakes.FakeGoogle, overrides: dict[str, Any]
) -> None:
    claims = {k: v for k, v in google.claims(**overrides).items() if v is not None}
    error = _rejected(_bearer(google.key.sign(claims)))
    assert error.code is ErrorCode.PERMISSION_DENIED, error.message
    assert error.__cause__ is None


def test_settings_without_a_tasks_service_account_deny_every_token(
    google: fakes.FakeGoogle,
) -> None:
    settings = oidc_settings().model_copy(update={"tasks_service_account": ""})
    error = _rejected(_bearer(google.token()), settings)
    assert error.code is ErrorCode.PERMISSION_DENIED


# --- oidc: AUTH_UNAVAILABLE (fresh process, cold cache) ----------------------------------------

_FRESH_PROCESS_SCRIPT = """
import functools, json, sys
from tests.support.fake_google_certs import loopback_only
with loopback_only() as violations:
    from flask import Request
    from werkzeug.test import EnvironBuilder
    from qgen.adapters.task_auth import verify_caller
    from qgen.config import Settings
    from qgen.domain.errors import DomainError
    from qgen.http.worker_app import WorkerApp
    from qgen.services.worker import DeliveryOutcome, DeliveryResult

    settings = Settings(**json.loads(sys.argv[2]))
    headers = {"Authorization": sys.argv[1]}
    out = {}
    try:
        verify_caller(headers, settings)
        out["verify"] = "accepted"
    except DomainError as error:
        out["verify"] = {
            "code": error.code.value,
            "retry_after_seconds": error.retry_after_seconds,
            "cause": f"{type(error.__cause__).__name__}: {error.__cause__}",
        }

    class Service:
        def process(self, job_id):
            return DeliveryResult(DeliveryOutcome.COMPLETED, job_id)

    app = WorkerApp(
        service=Service(), verify_caller=functools.partial(verify_caller, settings=settings)
    )
    request = EnvironBuilder(
        method="POST", headers=headers, json={"jobId": "job-1"}
    ).get_request(Request)
    response = app.handle(request)
    out["http"] = {
        "status": response.status_code,
        "body": response.get_json(),
        "retry_after": response.headers.get("Retry-After"),
    }
    out["non_loopback"] = list(violations)
print(json.dumps(out))
"""


def _child_env(google: fakes.FakeGoogle, *, proxy_url: str, tmp_path: Path) -> dict[str, str]:
    env = google.child_environment(proxy_url=proxy_url)
    # Verifying needs no identity: no ADC, no gcloud config, never the GCE metadata server.
    env.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
    env["CLOUDSDK_CONFIG"] = str(tmp_path)
    return env


def _run_in_fresh_process(header: str, env: dict[str, str]) -> dict[str, Any]:
    settings = {
        "project_id": PROJECT,
        "worker_caller_check": "oidc",
        "worker_url": WORKER_URL,
        "tasks_service_account": TASKS_SA,
    }
    return fakes.run_in_fresh_process(_FRESH_PROCESS_SCRIPT, header, json.dumps(settings), env=env)


def _assert_auth_unavailable(result: dict[str, Any]) -> None:
    verify = result["verify"]
    assert verify != "accepted"
    assert verify["code"] == ErrorCode.AUTH_UNAVAILABLE.value, result
    assert verify["retry_after_seconds"] == 5
    assert verify["cause"].startswith("TransportError"), result
    # Through the HTTP edge: 503 + Retry-After, so Cloud Tasks delivers the task again later.
    assert result["http"]["status"] == HTTPStatus.SERVICE_UNAVAILABLE
    assert result["http"]["body"]["error"]["code"] == ErrorCode.AUTH_UNAVAILABLE.value
    assert result["http"]["retry_after"] == "5"


def test_cert_endpoint_answering_503_reports_auth_unavailable(
    google: fakes.FakeGoogle, tmp_path: Path
) -> None:
    with google.proxy_for(status=HTTPStatus.SERVICE_UNAVAILABLE) as down:
        env = _child_env(google, proxy_url=down.url, tmp_path=tmp_path)
        result = _run_in_fresh_process(f"Bearer {google.token()}", env)
    _assert_auth_unavailable(result)
    assert "Could not fetch certificates" in result["verify"]["cause"]
    # Both calls really asked the endpoint (a failure is not cached) and got the 503.
    assert down.oauth2_certificate_fetches == 2, down.log


def test_cert_endpoint_unreachable_reports_auth_unavailable(
    google: fakes.FakeGoogle, tmp_path: Path
) -> None:
    env = _child_env(google, proxy_url=refused_proxy_url(), tmp_path=tmp_path)
    _assert_auth_unavailable(_run_in_fresh_process(f"Bearer {google.token()}", env))


def test_fresh_process_with_cert_endpoint_up_accepts_the_same_token(
    google: fakes.FakeGoogle, tmp_path: Path
) -> None:
    """The control for the two tests above: same child, same token, endpoint up → accepted."""
    with google.proxy_for() as up:
        env = _child_env(google, proxy_url=up.url, tmp_path=tmp_path)
        result = _run_in_fresh_process(f"Bearer {google.token()}", env)
    assert result["verify"] == "accepted", result
    assert result["http"] == {
        "status": 200,
        "body": {"outcome": "completed", "jobId": "job-1"},
        "retry_after": None,
    }
    # The child fetched once and then served the second verification from its own cache.
    assert up.oauth2_certificate_fetches == 1, up.log


# --- local mode (the Cloud Tasks emulator sends no token) --------------------------------------


@pytest.mark.parametrize(
    "queue",
    ["question-generation", f"projects/{PROJECT}/{LOCAL_QUEUE_IN_REGION}"],
    ids=["short-name", "full-path"],
)
def test_local_mode_accepts_the_configured_queue(google: fakes.FakeGoogle, queue: str) -> None:
    log_size = len(google.proxy.log)
    verify_caller(_headers(**{"X-CloudTasks-QueueName": queue}), local_settings())
    # werkzeug's headers are case-insensitive, as a real request's are.
    verify_caller(_headers(**{"x-cloudtasks-queuename": queue}), local_settings())
    assert len(google.proxy.log) == log_size  # local mode reaches out to nothing


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-CloudTasks-QueueName": ""},
        {"X-CloudTasks-QueueName": "other-queue"},
        {"X-CloudTasks-QueueName": "Question-Generation"},
        {"X-CloudTasks-QueueName": f"projects/other/{LOCAL_QUEUE_IN_REGION}"},
        {"X-CloudTasks-QueueName": f"projects/{PROJECT}/{DEFAULT_REGION_QUEUE}"},
        {"X-CloudTasks-QueueName": " question-generation"},
        {"X-CloudTasks-TaskName": "question-generation"},
    ],
    ids=[
        "missing",
        "empty",
        "other-queue",
        "case-differs",
        "other-project",
        "other-location",
        "padded",
        "other-header",
    ],
)
def test_local_mode_denies_other_or_missing_queue(
    google: fakes.FakeGoogle, headers: dict[str, str]
) -> None:
    error = _rejected(_headers(**headers), local_settings())
    assert error.code is ErrorCode.PERMISSION_DENIED


def test_local_mode_ignores_a_valid_oidc_token_without_the_queue_header(
    google: fakes.FakeGoogle,
) -> None:
    error = _rejected(_bearer(google.token()), local_settings())
    assert error.code is ErrorCode.PERMISSION_DENIED


# --- The HTTP edge: WorkerApp with the real verify_caller --------------------------------------


@dataclass
class RecordingService:
    processed: list[str] = field(default_factory=list)

    def process(self, job_id: str) -> DeliveryResult:
        self.processed.append(job_id)
        return DeliveryResult(DeliveryOutcome.COMPLETED, job_id)


@dataclass
class Edge:
    service: RecordingService
    post: Callable[..., tuple[int, dict[str, Any]]]


def _edge(settings: Settings) -> Edge:
    service = RecordingService()
    app = WorkerApp(
        service=service,  # type: ignore[arg-type]  # a stand-in with WorkerService's one method
        verify_caller=functools.partial(verify_caller, settings=settings),
    )

    def post(
        body: Any = None, *, raw: bytes | None = None, **headers: str
    ) -> tuple[int, dict[str, Any]]:
        data = raw if raw is not None else json.dumps({"jobId": JOB_ID} if body is None else body)
        request = EnvironBuilder(
            method="POST",
            path="/",
            headers=headers,
            data=data,
            content_type="application/json",
        ).get_request(Request)
        response = app.handle(request)
        assert response.mimetype == "application/json"
        assert response.headers["Cache-Control"] == "no-store"
        return response.status_code, response.get_json()

    return Edge(service=service, post=post)


def _error_code(body: dict[str, Any]) -> str:
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["message"], str)
    return str(body["error"]["code"])


def test_edge_runs_the_task_for_cloud_tasks(google: fakes.FakeGoogle) -> None:
    edge = _edge(oidc_settings())
    status, body = edge.post(Authorization=f"Bearer {google.token()}")
    assert (status, body) == (200, {"outcome": "completed", "jobId": JOB_ID})
    assert edge.service.processed == [JOB_ID]


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        (None, (401, "UNAUTHENTICATED")),
        ("Bearer not-a-jwt", (401, "UNAUTHENTICATED")),
        ("expired", (401, "UNAUTHENTICATED")),
        ("wrong-audience", (401, "UNAUTHENTICATED")),
        ("alg-none", (401, "UNAUTHENTICATED")),
        ("other-service-account", (403, "PERMISSION_DENIED")),
        ("unverified", (403, "PERMISSION_DENIED")),
    ],
    ids=[
        "no-authorization",
        "garbage",
        "expired",
        "wrong-audience",
        "alg-none",
        "other-service-account",
        "unverified",
    ],
)
def test_edge_turns_away_everyone_else(
    google: fakes.FakeGoogle, authorization: str | None, expected: tuple[int, str]
) -> None:
    issued = int(time.time()) - 7200
    tokens = {
        "expired": google.token(iat=issued, exp=issued + 3600),
        "wrong-audience": google.token(aud="https://other.example/"),
        "alg-none": compact_jwt({"alg": "none", "kid": google.key.kid}, google.claims(), b""),
        "other-service-account": google.token(email=OTHER_SA),
        "unverified": google.token(email_verified=False),
    }
    headers = {}
    if authorization is not None:
        headers["Authorization"] = (
            f"Bearer {tokens[authorization]}" if authorization in tokens else authorization
        )
    edge = _edge(oidc_settings())

    status, body = edge.post(**headers)

    assert (status, _error_code(body)) == expected
    assert edge.service.processed == []


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"[]",
        b"{}",
        b'{"jobId": 123}',
        b'{"jobId": null}',
        b'{"jobId": "job-1", "extra": 1}',
        b'{"job_id": "job-1"}',
    ],
    ids=[
        "empty",
        "not-json",
        "array",
        "no-job-id",
        "number",
        "null",
        "extra-field",
        "wrong-name",
    ],
)
def test_edge_rejects_a_malformed_task_body_from_cloud_tasks(
    google: fakes.FakeGoogle, raw: bytes
) -> None:
    edge = _edge(oidc_settings())
    status, body = edge.post(raw=raw, Authorization=f"Bearer {google.token()}")
    assert (status, _error_code(body)) == (400, "INVALID_ARGUMENT")
    assert edge.service.processed == []


def test_edge_checks_the_caller_before_reading_the_body(google: fakes.FakeGoogle) -> None:
    edge = _edge(oidc_settings())
    status, body = edge.post(raw=b"not json")
    assert (status, _error_code(body)) == (401, "UNAUTHENTICATED")
    status, body = edge.post(
        raw=b"not json", Authorization=f"Bearer {google.token(email=OTHER_SA)}"
    )
    assert (status, _error_code(body)) == (403, "PERMISSION_DENIED")


def test_edge_rejects_a_google_signed_token_from_another_issuer(google: fakes.FakeGoogle) -> None:
    edge = _edge(oidc_settings())
    token = google.token(iss=f"https://securetoken.google.com/{PROJECT}")
    status, body = edge.post(Authorization=f"Bearer {token}")
    assert (status, _error_code(body)) == (401, "UNAUTHENTICATED")


def test_edge_in_local_mode(google: fakes.FakeGoogle) -> None:
    edge = _edge(local_settings())
    status, body = edge.post()
    assert (status, _error_code(body)) == (403, "PERMISSION_DENIED")
    status, body = edge.post(**{"X-CloudTasks-QueueName": "question-generation"})
    assert (status, body) == (200, {"outcome": "completed", "jobId": JOB_ID})
    status, body = edge.post(raw=b"{}", **{"X-CloudTasks-QueueName": "question-generation"})
    assert (status, _error_code(body)) == (400, "INVALID_ARGUMENT")
    assert edge.service.processed == [JOB_ID]


# --- the cleanup function: Cloud Scheduler's identity and audience ------------------------------

CLEANUP_URL = "https://cleanup.example/"
SCHEDULER_SA = "scheduler@proj.iam.gserviceaccount.com"


def scheduler_settings(mode: str = "oidc") -> Settings:
    return Settings(
        project_id=PROJECT,
        worker_caller_check=mode,
        worker_url=WORKER_URL,
        tasks_service_account=TASKS_SA,
        cleanup_url=CLEANUP_URL,
        scheduler_service_account=SCHEDULER_SA,
    )


def test_scheduler_token_for_the_cleanup_url_is_accepted(google: fakes.FakeGoogle) -> None:
    token = google.token(aud=CLEANUP_URL, email=SCHEDULER_SA)
    assert verify_scheduler(_bearer(token), scheduler_settings()) is None


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"aud": WORKER_URL, "email": SCHEDULER_SA}, ErrorCode.UNAUTHENTICATED),
        ({"aud": CLEANUP_URL, "email": TASKS_SA}, ErrorCode.PERMISSION_DENIED),
        (
            {"aud": CLEANUP_URL, "email": SCHEDULER_SA, "email_verified": False},
            ErrorCode.PERMISSION_DENIED,
        ),
    ],
    ids=["worker-audience", "tasks-identity", "unverified-email"],
)
def test_other_tokens_cannot_run_the_cleanup(
    google: fakes.FakeGoogle, overrides: dict[str, Any], code: ErrorCode
) -> None:
    with pytest.raises(DomainError) as caught:
        verify_scheduler(_bearer(google.token(**overrides)), scheduler_settings())
    assert caught.value.code is code


def test_local_cleanup_needs_the_scheduler_header(google: fakes.FakeGoogle) -> None:
    settings = scheduler_settings("local")
    assert verify_scheduler(_headers(**{"X-CloudScheduler": "true"}), settings) is None
    for headers in (_headers(), _headers(**{"X-CloudScheduler": "false"})):
        with pytest.raises(DomainError) as caught:
            verify_scheduler(headers, settings)
        assert caught.value.code is ErrorCode.PERMISSION_DENIED
