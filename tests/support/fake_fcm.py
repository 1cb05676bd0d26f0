"""Firebase Cloud Messaging's HTTP v1 endpoint, faked on loopback, for offline tests.

firebase-admin's messaging client posts each message to the fixed
``https://fcm.googleapis.com/v1/projects/{project}/messages:send`` with ``requests`` (so through
``HTTPS_PROXY``, trusting ``REQUESTS_CA_BUNDLE``), after an OAuth2 grant at its credential's
``token_uri``. :class:`FakeFcm` is both ends:

* a loopback proxy (tls_tunnel.py) that is fcm.googleapis.com behind ``CONNECT``, with a
  certificate from a throwaway CA: it records every message (with ``time.time()`` on receipt)
  and answers per registration token as scripted (:class:`Answer`);
* on the same port, spoken directly (``NO_PROXY`` covers loopback), the token endpoint of the
  service account it hands out, which grants :attr:`FakeFcm.access_token`.

Nothing in firebase-admin is patched: the SDK's retries, its error parsing and its auth run
as in production.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from http import HTTPStatus
from pathlib import Path
from typing import Any

from tests.support.fake_google_certs import (
    CertificateAuthority,
    proxy_environment,
    service_account_info,
)
from tests.support.tls_tunnel import (
    Origin,
    QuietHandler,
    TunnelHandler,
    TunnelProxy,
    server_tls_context,
)

FCM_HOST = "fcm.googleapis.com"
TOKEN_PATH = "/token"
# Loopback bypasses the proxy: the emulators (gRPC), the offline model (httpx) and the token
# endpoint are reached directly; only Google's hosts go through it.
LOOPBACK = "127.0.0.1,localhost"
_FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
_JSON = {"Content-Type": "application/json; charset=UTF-8"}


class Answer(StrEnum):
    """What the stand-in answers for a token."""

    OK = "ok"  # 200 {"name": "projects/p/messages/<id>"}
    UNREGISTERED = "unregistered"  # 404 with FCM's UNREGISTERED error detail
    BAD_GATEWAY = "bad_gateway"  # 502: firebase-admin does not retry it (500 and 503 it does)


@dataclass(frozen=True)
class Received:
    """One message as it reached the stand-in."""

    token: str
    message: dict[str, Any]  # the request's "message" object
    authorization: str | None
    at: float  # time.time() on receipt
    answer: Answer


class _FcmHandler(QuietHandler):
    """fcm.googleapis.com, inside the TLS tunnel."""

    def do_POST(self) -> None:
        fake: FakeFcm = self.server.owner
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if self.path != f"/v1/projects/{fake.project_id}/messages:send":
            self._reply(HTTPStatus.NOT_FOUND, b"", {})
            return
        message = dict(body.get("message") or {})
        answer = fake.record(message, self.headers.get("Authorization"))
        status, reply = _answer(answer, fake.project_id)
        self._reply(status, reply, _JSON if answer is not Answer.BAD_GATEWAY else {})


def _answer(answer: Answer, project_id: str) -> tuple[HTTPStatus, bytes]:
    if answer is Answer.OK:
        name = f"projects/{project_id}/messages/{secrets.token_hex(8)}"
        return HTTPStatus.OK, json.dumps({"name": name}).encode()
    if answer is Answer.UNREGISTERED:
        error = {
            "code": 404,
            "message": "Requested entity was not found.",
            "status": "NOT_FOUND",
            "details": [{"@type": _FCM_ERROR, "errorCode": "UNREGISTERED"}],
        }
        return HTTPStatus.NOT_FOUND, json.dumps({"error": error}).encode()
    # What Google's front end says when the backend is away: an HTML page, not FCM's JSON.
    return HTTPStatus.BAD_GATEWAY, b"<html><body>502 Bad Gateway</body></html>"


class _ProxyOrTokenHandler(TunnelHandler):
    """The proxy, which also answers OAuth2 grants sent to it directly (not proxied)."""

    def do_POST(self) -> None:
        fake: FakeFcm = self.server.owner
        self.rfile.read(int(self.headers.get("Content-Length", 0)))  # the signed JWT grant
        if self.path != TOKEN_PATH:
            self._reply(HTTPStatus.NOT_FOUND, b"", {"Connection": "close"})
            return
        fake.log.append(f"POST {TOKEN_PATH}")
        grant = {"access_token": fake.access_token, "expires_in": 3600, "token_type": "Bearer"}
        self._reply(HTTPStatus.OK, json.dumps(grant).encode(), _JSON)


class FakeFcm:
    """The stand-in on a free loopback port while the ``with`` block runs.

    ``script`` maps a registration token to its answer (others get 200); change it any time.
    ``received`` lists every message in arrival order, ``log`` every request.
    """

    def __init__(self, workdir: Path, *, project_id: str) -> None:
        self.project_id = project_id
        self.access_token = f"ya29.fake-{secrets.token_urlsafe(12)}"
        self.script: dict[str, Answer] = {}
        self.received: list[Received] = []
        self.log: list[str] = []
        self._lock = threading.Lock()
        ca = CertificateAuthority()
        self.ca_bundle = ca.write_bundle(workdir / "fcm-ca.pem")
        cert, key = ca.issue_server_certificate(FCM_HOST, workdir)
        origin = Origin(server_tls_context(cert, key), _FcmHandler)
        self._proxy = TunnelProxy(
            {f"{FCM_HOST}:443": origin},
            owner=self,
            log=self.log,
            handler=_ProxyOrTokenHandler,
            name="fake-fcm",
        )

    def __enter__(self) -> FakeFcm:
        self._proxy.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._proxy.stop()

    @property
    def url(self) -> str:
        return self._proxy.url

    @property
    def token_uri(self) -> str:
        return f"{self.url}{TOKEN_PATH}"

    def record(self, message: dict[str, Any], authorization: str | None) -> Answer:
        token = str(message.get("token", ""))
        with self._lock:
            answer = self.script.get(token, Answer.OK)
            self.received.append(Received(token, message, authorization, time.time(), answer))
        return answer

    def to(self, token: str) -> list[Received]:
        """The messages sent to ``token`` (whatever they were answered)."""
        with self._lock:
            return [r for r in self.received if r.token == token]

    def service_account(self) -> dict[str, str]:
        """A service-account key whose access tokens this stand-in grants."""
        return service_account_info(project_id=self.project_id, token_uri=self.token_uri)

    def write_service_account(self, path: Path) -> Path:
        path.write_text(json.dumps(self.service_account()))
        return path

    def environment(self) -> dict[str, str | None]:
        """Variables (``None``: unset) that send ``requests``' HTTPS through the stand-in and
        everything on loopback around it."""
        return proxy_environment(proxy_url=self.url, ca_bundle=self.ca_bundle, no_proxy=LOOPBACK)

    def function_env(self, credentials: Path) -> dict[str, str]:
        """What a stack's functions need to notify through the stand-in (StackConfig's
        ``function_env``): notifications on, the service account at ``credentials`` (from
        write_service_account) as their Application Default Credentials, the proxy and CA.
        A variable to unset is set empty: a child inherits the parent's environment."""
        return {
            **{name: value or "" for name, value in self.environment().items()},
            "NOTIFICATIONS_ENABLED": "true",
            "GOOGLE_APPLICATION_CREDENTIALS": str(credentials),
            "NO_GCE_CHECK": "true",  # never probe the GCE metadata server for credentials
        }
