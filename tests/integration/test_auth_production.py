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
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from qgen.adapters.auth import verify_user
from qgen.domain.errors import DomainError, ErrorCode

from dev.tokens import emulator_id_token
from tests.conftest import PROJECT_ID
from tests.support.fake_google_certs import (
    CERTS_HOST,
    CertificateAuthority,
    FakeGoogleCertsProxy,
    SigningKey,
    compact_jwt,
    id_token_claims,
    loopback_only,
    refused_proxy_url,
    signing_input,
    write_service_account_file,
)

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
UID = "user-4711"
_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
_NO_PROXY_VARS = ("NO_PROXY", "no_proxy")


@dataclass(frozen=True)
class FakeGoogle:
    published: tuple[SigningKey, SigningKey]  # served by the certificate endpoint
    rogue: SigningKey  # never published
    proxy: FakeGoogleCertsProxy
    ca_bundle: Path
    server_cert: Path
    server_key: Path
    credentials_file: Path

    @property
    def key(self) -> SigningKey:
        return self.published[0]

    def claims(self, **overrides: Any) -> dict[str, Any]:
        claims = id_token_claims(project_id=PROJECT_ID, uid=UID, issued_at=int(time.time()) - 5)
        claims.update(overrides)
        return claims

    def token(self, **overrides: Any) -> str:
        """A token Firebase Auth could have issued for UID, with ``overrides`` applied."""
        return self.key.sign(self.claims(**overrides))


def _production_env(*, proxy_url: str, ca_bundle: Path) -> dict[str, str | None]:
    """Variables to set (``None``: unset) so the real libraries fetch certs via the proxy."""
    env: dict[str, str | None] = dict.fromkeys(_PROXY_VARS + _NO_PROXY_VARS)
    env["FIREBASE_AUTH_EMULATOR_HOST"] = None  # set, firebase-admin skips signature checks
    # Both spellings: urllib's getproxies() lets the lower-case one win when both are set.
    env["HTTPS_PROXY"] = env["https_proxy"] = proxy_url
    env["REQUESTS_CA_BUNDLE"] = env["CURL_CA_BUNDLE"] = str(ca_bundle)
    return env


@pytest.fixture(scope="module")
def google(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeGoogle]:
    workdir = tmp_path_factory.mktemp("fake-google")
    ca = CertificateAuthority()
    ca_bundle = ca.write_bundle(workdir / "ca.pem")
    server_cert, server_key = ca.issue_server_certificate(CERTS_HOST, workdir)
    published = (SigningKey.generate("test-kid-1"), SigningKey.generate("test-kid-2"))
    rogue = SigningKey.generate("test-kid-unpublished")
    credentials_file = write_service_account_file(
        workdir / "service-account.json", project_id=PROJECT_ID
    )
    proxy = FakeGoogleCertsProxy(
        server_cert=server_cert,
        server_key=server_key,
        published={key.kid: key.certificate_pem for key in published},
    )
    with proxy, pytest.MonkeyPatch.context() as mp:
        for name, value in _production_env(proxy_url=proxy.url, ca_bundle=ca_bundle).items():
            if value is None:
                mp.delenv(name, raising=False)
            else:
                mp.setenv(name, value)
        mp.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(credentials_file))
        yield FakeGoogle(
            published=published,
            rogue=rogue,
            proxy=proxy,
            ca_bundle=ca_bundle,
            server_cert=server_cert,
            server_key=server_key,
            credentials_file=credentials_file,
        )


@pytest.fixture(autouse=True)
def production_mode(google: FakeGoogle, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("FIREBASE_AUTH_EMULATOR_HOST", raising=False)
    with loopback_only() as violations:
        yield
    assert violations == [], "the test tried to leave loopback"


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _rejected(header: str | None) -> DomainError:
    with pytest.raises(DomainError) as caught:
        verify_user(header, project_id=PROJECT_ID)
    return caught.value


def _assert_unauthenticated(error: DomainError, *, reason: str) -> None:
    """UNAUTHENTICATED, and firebase-admin's own explanation (the cause) names ``reason``."""
    assert error.code is ErrorCode.UNAUTHENTICATED, error.message
    assert error.retry_after_seconds is None
    cause = str(error.__cause__)
    assert reason.lower() in cause.lower(), f"rejected for another reason: {cause}"


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

    _assert_unauthenticated(error, reason="Token expired")
    assert "expired" in error.message


def test_token_for_another_project_is_rejected(google: FakeGoogle) -> None:
    error = _rejected(f"Bearer {google.token(aud='some-other-project')}")
    _assert_unauthenticated(error, reason='incorrect "aud" (audience) claim')


def test_token_from_another_issuer_is_rejected(google: FakeGoogle) -> None:
    token = google.token(iss="https://accounts.google.com")
    error = _rejected(f"Bearer {token}")
    _assert_unauthenticated(error, reason='incorrect "iss" (issuer) claim')


def test_token_signed_by_another_key_under_a_published_kid_is_rejected(
    google: FakeGoogle,
) -> None:
    forged = google.rogue.sign(google.claims(), kid=google.key.kid)
    error = _rejected(f"Bearer {forged}")
    _assert_unauthenticated(error, reason="Could not verify token signature")


def test_token_with_unknown_kid_is_rejected(google: FakeGoogle) -> None:
    token = google.rogue.sign(google.claims())
    error = _rejected(f"Bearer {token}")
    _assert_unauthenticated(error, reason=f"key id {google.rogue.kid} not found")


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

    _assert_unauthenticated(error, reason=reason)


def test_hs256_token_keyed_with_a_published_certificate_is_rejected(google: FakeGoogle) -> None:
    # Algorithm confusion: an HMAC "signature" whose secret is public (the published cert).
    header = {"alg": "HS256", "kid": google.key.kid, "typ": "JWT"}
    claims = google.claims()
    secret = google.key.certificate_pem.encode()
    signature = hmac.new(secret, signing_input(header, claims), hashlib.sha256).digest()

    error = _rejected(f"Bearer {compact_jwt(header, claims, signature)}")

    _assert_unauthenticated(error, reason='incorrect algorithm. Expected "RS256" but got "HS256"')


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
    _assert_unauthenticated(error, reason=reason)


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
    completed = subprocess.run(
        [sys.executable, "-c", _FRESH_PROCESS_SCRIPT, header, PROJECT_ID],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result: dict[str, Any] = json.loads(completed.stdout.splitlines()[-1])
    assert result.pop("non_loopback") == [], "the child process tried to leave loopback"
    return result


def _child_env(google: FakeGoogle, *, proxy_url: str) -> dict[str, str]:
    env = dict(os.environ)
    for name, value in _production_env(proxy_url=proxy_url, ca_bundle=google.ca_bundle).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    env["GOOGLE_APPLICATION_CREDENTIALS"] = str(google.credentials_file)
    env["NO_GCE_CHECK"] = "true"  # never probe the GCE metadata server, whatever happens
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT / "functions"), str(REPO_ROOT)])
    return env


def _assert_auth_unavailable(result: dict[str, Any]) -> None:
    assert result.get("code") == ErrorCode.AUTH_UNAVAILABLE.value, result
    assert result["retry_after_seconds"] == 5
    assert result["cause"].startswith("CertificateFetchError"), result


def test_cert_endpoint_answering_503_reports_auth_unavailable(google: FakeGoogle) -> None:
    with FakeGoogleCertsProxy(
        server_cert=google.server_cert,
        server_key=google.server_key,
        published={key.kid: key.certificate_pem for key in google.published},
        status=HTTPStatus.SERVICE_UNAVAILABLE,
    ) as down:
        result = _verify_in_fresh_process(
            f"Bearer {google.token()}", _child_env(google, proxy_url=down.url)
        )
    _assert_auth_unavailable(result)
    assert down.certificate_fetches == 1, down.log  # the 503 really was what it got


def test_cert_endpoint_unreachable_reports_auth_unavailable(google: FakeGoogle) -> None:
    env = _child_env(google, proxy_url=refused_proxy_url())
    result = _verify_in_fresh_process(f"Bearer {google.token()}", env)
    _assert_auth_unavailable(result)


def test_fresh_process_with_cert_endpoint_up_accepts_the_same_token(google: FakeGoogle) -> None:
    """The control for the two tests above: same child, same token, endpoint up → the uid."""
    env = _child_env(google, proxy_url=google.proxy.url)
    assert _verify_in_fresh_process(f"Bearer {google.token()}", env) == {"uid": UID}


def test_verification_needs_no_application_default_credentials(
    google: FakeGoogle, tmp_path: Path
) -> None:
    env = _child_env(google, proxy_url=google.proxy.url)
    del env["GOOGLE_APPLICATION_CREDENTIALS"]
    env["CLOUDSDK_CONFIG"] = str(tmp_path)  # no gcloud user credentials either
    result = _verify_in_fresh_process(f"Bearer {google.token()}", env)
    assert "unexpected" not in result, result["unexpected"]
    assert result == {"uid": UID}
