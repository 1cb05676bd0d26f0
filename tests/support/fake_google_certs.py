"""Google's certificate endpoints, faked on loopback for production-path auth tests.

In production two kinds of token are checked against X.509 certificates downloaded (through
``requests``, which honours ``HTTPS_PROXY`` and ``REQUESTS_CA_BUNDLE``) from www.googleapis.com:

* firebase-admin verifies a Firebase ID token's RS256 signature against the securetoken keys at
  ``https://www.googleapis.com/robot/v1/metadata/x509/securetoken@...``;
* google-auth (``id_token.verify_oauth2_token``) verifies the OIDC token Cloud Tasks attaches to
  a task against Google's OAuth2 keys at ``https://www.googleapis.com/oauth2/v1/certs``.

This module provides everything a test needs to run that real code offline:

* :class:`CertificateAuthority` - a throwaway CA that issues the TLS certificate for
  www.googleapis.com, so the client's normal certificate verification passes once the CA
  bundle points at it;
* :class:`SigningKey` - an RSA key with a key id and a self-signed certificate, the shape of
  the keys Google publishes, plus helpers that mint tokens with them;
* :class:`FakeGoogleCertsProxy` - a loopback HTTP proxy that answers ``CONNECT
  www.googleapis.com:443`` itself (it never dials out), terminates TLS and serves the
  ``{kid: certificate}`` JSON of either endpoint with a ``Cache-Control`` header, or an error
  status;
* :func:`proxy_environment` - the variables that route ``requests`` through that proxy;
* :func:`loopback_only` - an audit hook that records and blocks any attempt to resolve or
  reach a non-loopback address while it is active.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import ipaddress
import json
import socket
import sys
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.support.tls_tunnel import Origin, QuietHandler, TunnelProxy, server_tls_context

CERTS_HOST = "www.googleapis.com"
CERTS_PATH = "/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"
CERTS_URL = f"https://{CERTS_HOST}{CERTS_PATH}"
# Google's OAuth2 signing keys (google-auth's ``_GOOGLE_OAUTH2_CERTS_URL``): they sign the OIDC
# tokens Google mints for service accounts, e.g. the one Cloud Tasks attaches to a task.
OAUTH2_CERTS_PATH = "/oauth2/v1/certs"
OAUTH2_CERTS_URL = f"https://{CERTS_HOST}{OAUTH2_CERTS_PATH}"
OAUTH2_ISSUER = "https://accounts.google.com"
CERTS_MAX_AGE_SECONDS = 3600


def _new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _validity() -> tuple[datetime.datetime, datetime.datetime]:
    now = datetime.datetime.now(datetime.UTC)
    return now - datetime.timedelta(days=1), now + datetime.timedelta(days=2)


# --- Signing keys and tokens -----------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    """An RSA key published (or not) under ``kid``, like one of Google's signing keys."""

    kid: str
    private_key: rsa.RSAPrivateKey = field(repr=False)
    certificate_pem: str = field(repr=False)

    @classmethod
    def generate(cls, kid: str, *, common_name: str = "securetoken.system.test") -> SigningKey:
        key = _new_rsa_key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        not_before, not_after = _validity()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
        return cls(kid=kid, private_key=key, certificate_pem=pem)

    def sign(self, claims: Mapping[str, Any], *, kid: str | None = None) -> str:
        """An RS256 JWT signed by this key; ``kid`` overrides the key id put in the header."""
        return jwt.encode(
            dict(claims),
            self.private_key,
            algorithm="RS256",
            headers={"kid": self.kid if kid is None else kid},
        )


def id_token_claims(
    *, project_id: str, uid: str, issued_at: int, lifetime_seconds: int = 3600
) -> dict[str, Any]:
    """The claims of a Firebase ID token as Firebase Auth issues them."""
    return {
        "iss": f"https://securetoken.google.com/{project_id}",
        "aud": project_id,
        "auth_time": issued_at,
        "user_id": uid,
        "sub": uid,
        "iat": issued_at,
        "exp": issued_at + lifetime_seconds,
        "firebase": {"identities": {}, "sign_in_provider": "password"},
    }


def oidc_token_claims(
    *,
    audience: str,
    email: str,
    issued_at: int,
    lifetime_seconds: int = 3600,
    email_verified: bool = True,
) -> dict[str, Any]:
    """The claims of the OIDC token Google mints for a service account, as Cloud Tasks sends it.

    ``sub``/``azp`` are the account's 21-digit unique id; a stable fake derived from the email.
    """
    unique_id = str(10**20 + int(hashlib.sha256(email.encode()).hexdigest(), 16) % 10**20)
    return {
        "iss": OAUTH2_ISSUER,
        "aud": audience,
        "azp": unique_id,
        "sub": unique_id,
        "email": email,
        "email_verified": email_verified,
        "iat": issued_at,
        "exp": issued_at + lifetime_seconds,
    }


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64url_json(data: Mapping[str, Any]) -> str:
    return _b64url(json.dumps(data, separators=(",", ":")).encode())


def compact_jwt(header: Mapping[str, Any], claims: Mapping[str, Any], signature: bytes) -> str:
    """A JWT assembled by hand, for tokens a JWT library refuses to produce."""
    return f"{_b64url_json(header)}.{_b64url_json(claims)}.{_b64url(signature)}"


def signing_input(header: Mapping[str, Any], claims: Mapping[str, Any]) -> bytes:
    return f"{_b64url_json(header)}.{_b64url_json(claims)}".encode()


# --- TLS for www.googleapis.com ----------------------------------------------------------------


class CertificateAuthority:
    """A throwaway root CA; its certificate is the only one the client is told to trust."""

    def __init__(self) -> None:
        self._key = _new_rsa_key()
        self._name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "qgen test root CA")])
        not_before, not_after = _validity()
        public_key = self._key.public_key()
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(self._name)
            .issuer_name(self._name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .sign(self._key, hashes.SHA256())
        )

    def write_bundle(self, path: Path) -> Path:
        path.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))
        return path

    def issue_server_certificate(self, hostname: str, directory: Path) -> tuple[Path, Path]:
        """Write a key and a CA-signed certificate for ``hostname``; return (cert, key) paths."""
        key = _new_rsa_key()
        not_before, not_after = _validity()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
            .issuer_name(self._name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        cert_path = directory / f"{hostname}.crt"
        key_path = directory / f"{hostname}.key"
        cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(_private_pem(key))
        return cert_path, key_path


_PROXY_VARIABLES = (
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
)
_NO_PROXY_VARIABLES = ("NO_PROXY", "no_proxy")


def proxy_environment(
    *, proxy_url: str, ca_bundle: Path, no_proxy: str | None = None
) -> dict[str, str | None]:
    """Variables to set (``None``: unset) so ``requests`` reaches www.googleapis.com via the proxy.

    Both spellings of the proxy variable are set: urllib's ``getproxies()`` lets the lower-case
    one win when both exist. ``NO_PROXY`` is unset so nothing bypasses the proxy, unless
    ``no_proxy`` names hosts that must not go through it (a process that also talks gRPC or
    HTTP to emulators on loopback: gRPC and httpx honour ``https_proxy`` too).
    """
    env: dict[str, str | None] = dict.fromkeys(_PROXY_VARIABLES + _NO_PROXY_VARIABLES)
    env["HTTPS_PROXY"] = env["https_proxy"] = proxy_url
    env["NO_PROXY"] = env["no_proxy"] = no_proxy
    env["REQUESTS_CA_BUNDLE"] = env["CURL_CA_BUNDLE"] = str(ca_bundle)
    return env


def write_service_account_file(
    path: Path, *, project_id: str, token_uri: str = "https://oauth2.googleapis.com/token"
) -> Path:
    """A syntactically valid service-account key file.

    It stands in for the function's runtime identity (Application Default Credentials), which
    firebase-admin loads before it verifies a token; with the default ``token_uri`` it is never
    used to call anything. A test that needs an access token (Cloud Messaging) points
    ``token_uri`` at a local token endpoint.
    """
    path.write_text(json.dumps(service_account_info(project_id=project_id, token_uri=token_uri)))
    return path


def service_account_info(*, project_id: str, token_uri: str) -> dict[str, str]:
    """A service-account key (a fresh RSA key) whose OAuth2 grants go to ``token_uri``."""
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": "qgen-test-service-account",
        "private_key": _private_pem(_new_rsa_key()).decode(),
        "client_email": f"qgen-test@{project_id}.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_uri,
    }


# --- The proxy ---------------------------------------------------------------------------------


class _OriginHandler(QuietHandler):
    """The www.googleapis.com side, spoken inside the TLS tunnel."""

    def do_GET(self) -> None:
        fake: FakeGoogleCertsProxy = self.server.owner
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        fake.log.append(f"GET https://{self.headers.get('Host')}{path}")
        document = fake.document_at(path)
        if document is None:
            self._reply(HTTPStatus.NOT_FOUND, b"", {})
        elif fake.status != HTTPStatus.OK:
            self._reply(fake.status, b"unavailable", {"Retry-After": "30"})
        else:
            body = json.dumps(document).encode()
            self._reply(
                HTTPStatus.OK,
                body,
                {
                    "Content-Type": "application/json; charset=UTF-8",
                    "Cache-Control": (
                        f"public, max-age={CERTS_MAX_AGE_SECONDS}, must-revalidate, no-transform"
                    ),
                },
            )


class FakeGoogleCertsProxy:
    """A loopback HTTP proxy whose only destination is a fake www.googleapis.com.

    ``published`` is the ``{kid: certificate PEM}`` document served at the securetoken path
    (Firebase ID tokens), ``oauth2_published`` the one served at ``/oauth2/v1/certs`` (Google
    OIDC tokens); an endpoint given ``None`` answers 404. ``status`` other than 200 makes every
    endpoint answer that status instead. ``log`` records every request seen.
    """

    def __init__(
        self,
        *,
        server_cert: Path,
        server_key: Path,
        published: Mapping[str, str] | None = None,
        oauth2_published: Mapping[str, str] | None = None,
        status: HTTPStatus = HTTPStatus.OK,
    ) -> None:
        self.published = None if published is None else dict(published)
        self.oauth2_published = None if oauth2_published is None else dict(oauth2_published)
        self.status = status
        self.log: list[str] = []
        origin = Origin(server_tls_context(server_cert, server_key), _OriginHandler)
        self._proxy = TunnelProxy(
            {f"{CERTS_HOST}:443": origin}, owner=self, log=self.log, name="fake-google-certs-proxy"
        )

    @property
    def url(self) -> str:
        return self._proxy.url

    def document_at(self, path: str) -> dict[str, str] | None:
        """The ``{kid: certificate}`` document served at ``path``, if any."""
        return {CERTS_PATH: self.published, OAUTH2_CERTS_PATH: self.oauth2_published}.get(path)

    @property
    def certificate_fetches(self) -> int:
        """Requests that reached the securetoken endpoint (whatever it answered)."""
        return self.log.count(f"GET {CERTS_URL}")

    @property
    def oauth2_certificate_fetches(self) -> int:
        """Requests that reached the OAuth2 certificate endpoint (whatever it answered)."""
        return self.log.count(f"GET {OAUTH2_CERTS_URL}")

    def __enter__(self) -> FakeGoogleCertsProxy:
        self._proxy.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._proxy.stop()


def refused_proxy_url() -> str:
    """The URL of a loopback port nobody listens on: connecting to it is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- Network guard -----------------------------------------------------------------------------

_violations: list[str] | None = None  # None while no guard is active
_hook_installed = False


def _is_loopback(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if not isinstance(host, str):
        return False
    if host.lower() in {"localhost", "localhost."}:
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    violations = _violations
    if violations is None:
        return
    if event == "socket.getaddrinfo":
        host = args[0]
    elif event == "socket.connect" and isinstance(args[1], tuple):
        host = args[1][0]
    else:
        return
    if host is None or _is_loopback(host):
        return
    violations.append(f"{event} {host!r}")
    raise PermissionError(f"this test may only reach loopback addresses, not {host!r}")


@contextlib.contextmanager
def loopback_only() -> Iterator[list[str]]:
    """Block (and list) name lookups and connections to anything but loopback while active.

    The list is also the evidence: a blocked attempt can surface as an ordinary network error
    that the code under test handles, so callers assert that the list stays empty.
    """
    global _violations, _hook_installed
    if not _hook_installed:
        sys.addaudithook(_audit)  # audit hooks cannot be removed; it is inert when inactive
        _hook_installed = True
    previous, _violations = _violations, []
    try:
        yield _violations
    finally:
        _violations = previous
