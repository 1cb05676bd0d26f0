"""verify_user on the production path: real RS256 signatures, real certificate download.

Nothing in firebase-admin or google-auth is patched. The tests change only what those
libraries read from the environment, exactly as a deployment would:

* ``FIREBASE_AUTH_EMULATOR_HOST`` is unset, so firebase-admin checks signatures;
* ``HTTPS_PROXY`` points at a loopback proxy (tests/support/fake_google_certs.py) that answers
  ``CONNECT www.googleapis.com:443`` itself, terminates TLS with a certificate issued by a test
  CA and serves ``{kid: certificate}`` for keys generated here;
* ``REQUESTS_CA_BUNDLE`` names that test CA, so ``requests`` verifies the TLS certificate as
  usual and trusts nothing else;
* ``GOOGLE_APPLICATION_CREDENTIALS`` names a generated service-account file: firebase-admin
  loads Application Default Credentials before it verifies anything (on Cloud Functions the
  runtime identity provides them), and without them google-auth would probe the GCE metadata
  server.

firebase-admin keeps the downloaded certificates (cachecontrol, ``max-age``) for the life of the
``qgen`` app, i.e. of the process. Every in-process test therefore shares one proxy and one key
set, so the cache never holds anything another test did not expect; the cases that need a cold
cache (endpoint down, no credentials) run ``verify_user`` in a fresh interpreter.
An audit hook fails any test that resolves or connects to a non-loopback address.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from qgen.adapters.auth import verify_user
from qgen.domain.errors import DomainError, ErrorCode

from dev.tokens import emulator_id_token
from tests.conftest import PROJECT_ID
from tests.support.fake_google import (
    FakeGoogle,
    assert_unauthenticated,
    fake_google,
    run_in_fresh_process,
    staying_on_loopback,
)
from tests.support.fake_google_certs import (
    CERTS_HOST,
    compact_jwt,
    id_token_claims,
    refused_proxy_url,
    signing_input,
    write_service_account_file,
)

pytestmark = pytest.mark.integration

UID = "user-4711"


def _id_token_claims() -> dict[str, Any]:
    """What Firebase Auth puts in an ID token it issues for UID."""
    return id_token_claims(project_id=PROJECT_ID, uid=UID, issued_at=int(time.time()) - 5)


@pytest.fixture(scope="module")
def google(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeGoogle]:
    workdir = tmp_path_factory.mktemp("fake-google")
    credentials_file = write_service_account_file(
        workdir / "service-account.json", project_id=PROJECT_ID
    )
    with fake_google(
        workdir,
        kid_prefix="test-kid",
        default_claims=_id_token_claims,
        oauth2=False,
        extra_environment={
            "FIREBASE_AUTH_EMULATOR_HOST": None,  # set, firebase-admin skips signature checks
            "GOOGLE_APPLICATION_CREDENTIALS": str(credentials_file),
        },
    ) as google:
        yield google


@pytest.fixture(autouse=True)
def production_mode(google: FakeGoogle, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("FIREBASE_AUTH_EMULATOR_HOST", raising=False)
    with staying_on_loopback():
        yield


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _rejected(header: str | None) -> DomainError:
    with pytest.raises(DomainError) as caught:
        verify_user(header, project_id=PROJECT_ID)
    return caught.value


# --- Accepted ----------------------------------------------------------------------------------


def test_valid_token_returns_uid_after_fetching_google_certs(google: FakeGoogle) -> None:
    for key in google.published:  # either published key may have signed it
        token = key.sign(google.claims())
        assert verify_user(f"Bearer {token}", project_id=PROJECT_ID) == UID
    # The keys exist nowhere but in this test, so the signature was checked against the JSON the
    # proxy served over the TLS tunnel to www.googleapis.com.
    assert google.proxy.certificate_fetches >= 1, google.proxy.log
    assert f"CONNECT {CERTS_HOST}:443" in google.proxy.log


def test_scheme_is_case_insensitive_and_whitespace_tolerated(google: FakeGoogle) -> None:
    assert verify_user(f"bearer   {google.token()}  ", project_id=PROJECT_ID) == UID


# --- Rejected: UNAUTHENTICATED -----------------------------------------------------------------


def test_expired_token_is_reported_as_expired(google: FakeGoogle) -> None:
    issued = int(time.time()) - 7200
    token = google.key.sign(google.claims(iat=issued, auth_time=issued, exp=issued + 3600))

    error = _rejected(f"Bearer {token}")

    assert_unauthenticated(error, reason="Token expired")
    assert "expired" in error.message


def test_token_for_another_project_is_rejected(google: FakeGoogle) -> None:
    error = _rejected(f"Bearer {google.token(aud='some-other-project')}")
    assert_unauthenticated(error, reason='incorrect "aud" (audience) claim')


def test_token_from_another_issuer_is_rejected(google: FakeGoogle) -> None:
    token = google.token(iss="https://accounts.google.com")
    error = _rejected(f"Bearer {token}")
    assert_unauthenticated(error, reason='incorrect "iss" (issuer) claim')


def test_token_signed_by_another_key_under_a_published_kid_is_rejected(
    google: FakeGoogle,
) -> None:
    forged = google.rogue.sign(google.claims(), kid=google.key.kid)
    error = _rejected(f"Bearer {forged}")
    assert_unauthenticated(error, reason="Could not verify token signature")


def test_token_with_unknown_kid_is_rejected(google: FakeGoogle) -> None:
    token = google.rogue.sign(google.claims())
    error = _rejected(f"Bearer {token}")
    assert_unauthenticated(error, reason=f"key id {google.rogue.kid} not found")


@pytest.mark.parametrize(
    ("with_published_kid", "reason"),
    [(False, 'has no "kid" claim'), (True, 'incorrect algorithm. Expected "RS256"')],
    ids=["dev-token", "dev-token-with-published-kid"],
)
def test_unsigned_token_accepted_by_emulator_path_is_rejected_in_production(
    google: FakeGoogle, monkeypatch: pytest.MonkeyPatch, with_published_kid: bool, reason: str
) -> None:
    token = emulator_id_token(UID, project_id=PROJECT_ID)  # what the local stack signs in with
    if with_published_kid:
        header_b64, claims_b64, _ = token.split(".")
        header = json.loads(_b64decode(header_b64)) | {"kid": google.key.kid}
        token = compact_jwt(header, json.loads(_b64decode(claims_b64)), b"")
    with monkeypatch.context() as emulator:
        emulator.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099")
        assert verify_user(f"Bearer {token}", project_id=PROJECT_ID) == UID  # the control

    error = _rejected(f"Bearer {token}")

    assert_unauthenticated(error, reason=reason)


def test_hs256_token_keyed_with_a_published_certificate_is_rejected(google: FakeGoogle) -> None:
    # Algorithm confusion: an HMAC "signature" whose secret is public (the published cert).
    header = {"alg": "HS256", "kid": google.key.kid, "typ": "JWT"}
    claims = google.claims()
    secret = google.key.certificate_pem.encode()
    signature = hmac.new(secret, signing_input(header, claims), hashlib.sha256).digest()

    error = _rejected(f"Bearer {compact_jwt(header, claims, signature)}")

    assert_unauthenticated(error, reason='incorrect algorithm. Expected "RS256" but got "HS256"')


@pytest.mark.parametrize(
    "header",
    [None, "", "   ", "Bearer", "Bearer    ", "Basic dXNlcjpwYXNz", "Token abc.def.ghi"],
    ids=["missing", "empty", "blank", "scheme-only", "scheme-and-spaces", "basic", "other-scheme"],
)
def test_missing_or_non_bearer_authorization_header_is_rejected(
    google: FakeGoogle, header: str | None
) -> None:
    error = _rejected(header)
    assert error.code is ErrorCode.UNAUTHENTICATED
    assert "Authorization: Bearer" in error.message
    assert error.__cause__ is None  # refused before any token handling


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("not-a-jwt", "Wrong number of segments"),
        ("a.b.c", "base64"),
        ("Zm9v.YmFy.YmF6", "Can't parse segment"),
        ("x" * 5000, "Wrong number of segments"),
    ],
    ids=["no-dots", "bad-base64", "base64-but-not-json", "long-garbage"],
)
def test_garbage_bearer_token_is_rejected(google: FakeGoogle, token: str, reason: str) -> None:
    error = _rejected(f"Bearer {token}")
    assert_unauthenticated(error, reason=reason)


# --- Certificate endpoint unreachable: AUTH_UNAVAILABLE (fresh process, cold cache) ------------

_FRESH_PROCESS_SCRIPT = """
import json, sys
from tests.support.fake_google_certs import loopback_only
with loopback_only() as violations:
    from qgen.adapters.auth import verify_user
    from qgen.domain.errors import DomainError
    try:
        out = {"uid": verify_user(sys.argv[1], project_id=sys.argv[2])}
    except DomainError as error:
        out = {
            "code": error.code.value,
            "message": error.message,
            "retry_after_seconds": error.retry_after_seconds,
            "cause": f"{type(error.__cause__).__name__}: {error.__cause__}",
        }
    except Exception as error:
        out = {"unexpected": f"{type(error).__module__}.{type(error).__name__}: {error}"}
    out["non_loopback"] = list(violations)
print(json.dumps(out))
"""


def _verify_in_fresh_process(header: str, env: dict[str, str]) -> dict[str, Any]:
    """Run verify_user in a new interpreter (so no certificate is cached) and report the result."""
    return run_in_fresh_process(_FRESH_PROCESS_SCRIPT, header, PROJECT_ID, env=env)


def _assert_auth_unavailable(result: dict[str, Any]) -> None:
    assert result.get("code") == ErrorCode.AUTH_UNAVAILABLE.value, result
    assert result["retry_after_seconds"] == 5
    assert result["cause"].startswith("CertificateFetchError"), result


def test_cert_endpoint_answering_503_reports_auth_unavailable(google: FakeGoogle) -> None:
    with google.proxy_for(status=HTTPStatus.SERVICE_UNAVAILABLE) as down:
        result = _verify_in_fresh_process(
            f"Bearer {google.token()}", google.child_environment(proxy_url=down.url)
        )
    _assert_auth_unavailable(result)
    assert down.certificate_fetches == 1, down.log  # the 503 really was what it got


def test_cert_endpoint_unreachable_reports_auth_unavailable(google: FakeGoogle) -> None:
    env = google.child_environment(proxy_url=refused_proxy_url())
    result = _verify_in_fresh_process(f"Bearer {google.token()}", env)
    _assert_auth_unavailable(result)


def test_fresh_process_with_cert_endpoint_up_accepts_the_same_token(google: FakeGoogle) -> None:
    """The control for the two tests above: same child, same token, endpoint up → the uid."""
    env = google.child_environment(proxy_url=google.proxy.url)
    assert _verify_in_fresh_process(f"Bearer {google.token()}", env) == {"uid": UID}


def test_verification_needs_no_application_default_credentials(
    google: FakeGoogle, tmp_path: Path
) -> None:
    env = google.child_environment(proxy_url=google.proxy.url)
    del env["GOOGLE_APPLICATION_CREDENTIALS"]
    env["CLOUDSDK_CONFIG"] = str(tmp_path)  # no gcloud user credentials either
    result = _verify_in_fresh_process(f"Bearer {google.token()}", env)
    assert "unexpected" not in result, result["unexpected"]
    assert result == {"uid": UID}
