"""CHECK_REVOKED_TOKENS with firebase-admin's real lookup, through the HTTP app.

The Firebase Auth emulator is not installed here (firebase-tools is not), so a loopback server
stands in for it: it answers the one call firebase-admin makes for `check_revoked=True`,
``POST /identitytoolkit.googleapis.com/v1/projects/{project}/accounts:lookup``, with user
records as the emulator would (``disabled``, ``validSince``). Nothing in firebase-admin is
patched: it decides disabled / revoked / missing from those records itself.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import firebase_admin
import pytest
from qgen.adapters.auth import verify_user
from qgen.http.app import ApiApp

from tests.support.fakes import MemoryStore
from tests.support.http_app import PROJECT, api, body_of, call, error_of

pytestmark = pytest.mark.integration

ADMIN_APP = "qgen-admin"  # the firebase-admin app auth.py uses for the revocation check


class FakeAuthEmulator(BaseHTTPRequestHandler):
    users: ClassVar[dict[str, dict[str, Any]]] = {}
    lookups: ClassVar[list[str]] = []
    failing: ClassVar[bool] = False

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        expected = f"/identitytoolkit.googleapis.com/v1/projects/{PROJECT}/accounts:lookup"
        assert self.path == expected, self.path
        (uid,) = body["localId"]
        self.lookups.append(uid)
        status, answer = (500, {"error": {"message": "INTERNAL"}}) if self.failing else (200, {})
        if not self.failing and uid in self.users:
            answer = {"users": [{"localId": uid, **self.users[uid]}]}
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


def _drop_admin_app() -> None:
    # firebase-admin fixes the Auth endpoint when the app's client is made: start from none.
    with contextlib.suppress(ValueError):
        firebase_admin.delete_app(firebase_admin.get_app(ADMIN_APP))


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeAuthEmulator]]:
    handler = type("Emulator", (FakeAuthEmulator,), {"users": {}, "lookups": [], "failing": False})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", f"127.0.0.1:{server.server_address[1]}")
    _drop_admin_app()
    now = int(time.time())
    handler.users.update(
        {
            "active": {"disabled": False, "validSince": str(now - 3600)},
            "disabled": {"disabled": True, "validSince": str(now - 3600)},
            # Tokens revoked after the test's tokens were issued (their iat is now).
            "revoked": {"disabled": False, "validSince": str(now + 60)},
        }
    )
    yield handler
    _drop_admin_app()
    server.shutdown()
    server.server_close()


def _app(check_revoked: bool) -> ApiApp:
    store = MemoryStore()
    verifier = partial(verify_user, project_id=PROJECT, check_revoked=check_revoked)
    return api(store, store, verifier=verifier)


def test_active_users_pass_and_each_refusal_has_its_reason(
    emulator: type[FakeAuthEmulator],
) -> None:
    app = _app(check_revoked=True)
    assert body_of(call(app, "GET", "/jobs", uid="active"), 200) == {"jobs": []}
    for uid, reason in (
        ("revoked", "TOKEN_REVOKED"),
        ("disabled", "USER_DISABLED"),
        ("deleted", "USER_NOT_FOUND"),
    ):
        error = error_of(call(app, "GET", "/jobs", uid=uid), 401, "UNAUTHENTICATED")
        assert error["details"] == {"reason": reason}, uid
    assert emulator.lookups == ["active", "revoked", "disabled", "deleted"]


def test_a_failing_lookup_is_503_not_a_sign_out(emulator: type[FakeAuthEmulator]) -> None:
    emulator.failing = True
    response = call(_app(check_revoked=True), "GET", "/jobs", uid="active")
    error_of(response, 503, "AUTH_UNAVAILABLE")
    assert response.headers["Retry-After"] == "5"


def test_off_by_default_no_lookup_is_made(emulator: type[FakeAuthEmulator]) -> None:
    app = _app(check_revoked=False)
    for uid in ("revoked", "disabled", "deleted"):
        assert body_of(call(app, "GET", "/jobs", uid=uid), 200) == {"jobs": []}
    assert emulator.lookups == []
