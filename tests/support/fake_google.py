"""One fake Google certificate endpoint per test module, for the production-path auth tests.

tests/integration/test_auth_production.py (Firebase ID tokens, the securetoken endpoint) and
tests/integration/test_worker_caller.py (Cloud Tasks' OIDC tokens, the OAuth2 endpoint) set up
the same thing around the pieces of tests/support/fake_google_certs.py: a throwaway CA and the
TLS certificate of www.googleapis.com, two published signing keys and one never published, a
loopback proxy serving the published ones, the process environment that routes ``requests``
through it, an audit hook that fails a test leaving loopback, and a fresh interpreter for the
cases that need a cold certificate cache.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from qgen.domain.errors import DomainError, ErrorCode

from tests.support.fake_google_certs import (
    CERTS_HOST,
    CertificateAuthority,
    FakeGoogleCertsProxy,
    SigningKey,
    loopback_only,
    proxy_environment,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class FakeGoogle:
    published: tuple[SigningKey, SigningKey]  # served by the certificate endpoint
    rogue: SigningKey  # never published
    proxy: FakeGoogleCertsProxy
    ca_bundle: Path
    server_cert: Path
    server_key: Path
    default_claims: Callable[[], dict[str, Any]]  # what a genuine token of the module carries
    oauth2: bool  # the keys are served at /oauth2/v1/certs, else at the securetoken endpoint
    # Set (None: unset) on top of the proxy's variables, in the tests and in their children.
    extra_environment: Mapping[str, str | None] = field(default_factory=dict)

    @property
    def key(self) -> SigningKey:
        return self.published[0]

    def claims(self, **overrides: Any) -> dict[str, Any]:
        claims = self.default_claims()
        claims.update(overrides)
        return claims

    def token(self, **overrides: Any) -> str:
        """A genuine token signed by the first published key, with ``overrides`` applied."""
        return self.key.sign(self.claims(**overrides))

    def proxy_for(self, *, status: HTTPStatus = HTTPStatus.OK) -> FakeGoogleCertsProxy:
        """Another proxy serving the same keys (or answering ``status``), for one child, so
        its fetches are counted apart."""
        return _serving(self.published, self.server_cert, self.server_key, self.oauth2, status)

    def environment(self, *, proxy_url: str) -> dict[str, str | None]:
        """Variables to set (``None``: unset) so the real libraries fetch through ``proxy_url``."""
        return {
            **proxy_environment(proxy_url=proxy_url, ca_bundle=self.ca_bundle),
            **self.extra_environment,
        }

    def child_environment(self, *, proxy_url: str) -> dict[str, str]:
        """This process's environment for a child that fetches through ``proxy_url``."""
        env = dict(os.environ)
        for name, value in self.environment(proxy_url=proxy_url).items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        env["NO_GCE_CHECK"] = "true"  # never probe the GCE metadata server, whatever happens
        env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT / "functions"), str(REPO_ROOT)])
        return env


def _serving(
    keys: tuple[SigningKey, ...],
    server_cert: Path,
    server_key: Path,
    oauth2: bool,
    status: HTTPStatus = HTTPStatus.OK,
) -> FakeGoogleCertsProxy:
    pems = {key.kid: key.certificate_pem for key in keys}
    return FakeGoogleCertsProxy(
        server_cert=server_cert,
        server_key=server_key,
        published=None if oauth2 else pems,
        oauth2_published=pems if oauth2 else None,
        status=status,
    )


@contextlib.contextmanager
def fake_google(
    workdir: Path,
    *,
    kid_prefix: str,
    default_claims: Callable[[], dict[str, Any]],
    oauth2: bool,
    common_name: str | None = None,
    extra_environment: Mapping[str, str | None] | None = None,
) -> Iterator[FakeGoogle]:
    """The endpoint up, with this process's environment pointing at it, until the block ends.

    Keys are named ``{kid_prefix}-1``, ``{kid_prefix}-2`` (published) and
    ``{kid_prefix}-unpublished``; ``common_name`` is their certificates' subject.
    """
    ca = CertificateAuthority()
    ca_bundle = ca.write_bundle(workdir / "ca.pem")
    server_cert, server_key = ca.issue_server_certificate(CERTS_HOST, workdir)
    names = {} if common_name is None else {"common_name": common_name}
    published = (
        SigningKey.generate(f"{kid_prefix}-1", **names),
        SigningKey.generate(f"{kid_prefix}-2", **names),
    )
    rogue = SigningKey.generate(f"{kid_prefix}-unpublished", **names)
    proxy = _serving(published, server_cert, server_key, oauth2)
    google = FakeGoogle(
        published=published,
        rogue=rogue,
        proxy=proxy,
        ca_bundle=ca_bundle,
        server_cert=server_cert,
        server_key=server_key,
        default_claims=default_claims,
        oauth2=oauth2,
        extra_environment=dict(extra_environment or {}),
    )
    with proxy, pytest.MonkeyPatch.context() as mp:
        for name, value in google.environment(proxy_url=proxy.url).items():
            if value is None:
                mp.delenv(name, raising=False)
            else:
                mp.setenv(name, value)
        yield google


@contextlib.contextmanager
def staying_on_loopback() -> Iterator[None]:
    """Fails the test if anything in the block resolved or reached a non-loopback address."""
    with loopback_only() as violations:
        yield
    assert violations == [], "the test tried to leave loopback"


def assert_unauthenticated(error: DomainError, *, reason: str) -> None:
    """UNAUTHENTICATED, and the verifying library's own explanation (the cause) names
    ``reason``."""
    assert error.code is ErrorCode.UNAUTHENTICATED, error.message
    assert error.retry_after_seconds is None
    cause = str(error.__cause__)
    assert reason.lower() in cause.lower(), f"rejected for another reason: {cause}"


def run_in_fresh_process(script: str, *args: str, env: Mapping[str, str]) -> dict[str, Any]:
    """Run ``script`` in a new interpreter (so no certificate is cached) from the repository
    root; its last line of output is a JSON object whose "non_loopback" list must be empty."""
    completed = subprocess.run(
        [sys.executable, "-c", script, *args],
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
