"""The `qgen` command without the stack: identity, saved sign-in, real-project sign-in."""

from __future__ import annotations

import base64
import json
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import pytest
from qgen_cli import config
from qgen_cli.app import app
from qgen_cli.auth import TokenSource, local_id_token
from typer.testing import CliRunner

from dev.tokens import emulator_id_token


def claims(token: str) -> dict[str, Any]:
    header, payload, signature = token.split(".")
    assert signature == ""
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == {"alg": "none", "typ": "JWT"}
    return dict(json.loads(base64.urlsafe_b64decode(payload + "==")))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QGEN_CONFIG", str(tmp_path / "qgen" / "config.json"))
    for name in ("QGEN_USER", "QGEN_API_URL", "QGEN_FIRESTORE_EMULATOR_HOST", "QGEN_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_local_tokens_have_the_claims_of_dev_tokens() -> None:
    mine = claims(local_id_token("alice", project_id="demo-p"))
    theirs = claims(emulator_id_token("alice", project_id="demo-p"))
    for moment in ("auth_time", "iat", "exp"):
        assert abs(mine.pop(moment) - theirs.pop(moment)) <= 1
    assert mine == theirs
    assert mine["sub"] == mine["user_id"] == "alice"
    assert mine["aud"] == "demo-p"


def test_local_login_is_saved_privately_and_logout_forgets_it(home: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(app, ["login", "alice", "--api-url", "http://127.0.0.1:1"])
    assert done.exit_code == 0, done.output
    path = config.config_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    profile = config.load()
    assert (profile.mode, profile.uid, profile.project_id) == ("local", "alice", "demo-qgen")
    assert profile.api_url == "http://127.0.0.1:1"
    assert profile.firestore_emulator == "127.0.0.1:8180"
    assert "alice (local user, project demo-qgen)" in runner.invoke(app, ["whoami"]).output
    assert runner.invoke(app, ["logout"]).exit_code == 0
    assert not path.exists()
    with pytest.raises(config.NotSignedInError):
        config.load()


def test_qgen_user_acts_as_a_local_user_without_a_file(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QGEN_USER", "ci-bot")
    monkeypatch.setenv("QGEN_API_URL", "http://127.0.0.1:9")
    profile = config.load()
    assert (profile.uid, profile.api_url, profile.project_id) == (
        "ci-bot",
        "http://127.0.0.1:9",
        "demo-qgen",
    )
    assert claims(TokenSource(profile).token())["sub"] == "ci-bot"


class FakeFirebaseAuth(BaseHTTPRequestHandler):
    """The two Firebase Authentication REST calls of the CLI, as the Auth emulator serves them."""

    calls: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    def do_POST(self) -> None:
        url = urlparse(self.path)
        raw = self.rfile.read(int(self.headers["Content-Length"])).decode()
        if self.headers["Content-Type"].startswith("application/json"):
            body: dict[str, Any] = json.loads(raw)
        else:
            body = {k: v[0] for k, v in parse_qs(raw).items()}
        self.calls.append((url.path, body))
        key = parse_qs(url.query).get("key", [""])[0]
        if url.path == "/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword":
            if key != "web-key" or body.get("password") != "s3cret":
                return self.answer(400, {"error": {"code": 400, "message": "INVALID_PASSWORD"}})
            return self.answer(
                200,
                {
                    "localId": "uid-42",
                    "idToken": "id-token-1",
                    "refreshToken": "refresh-1",
                    "expiresIn": "3600",
                },
            )
        if url.path == "/securetoken.googleapis.com/v1/token":
            assert body == {"grant_type": "refresh_token", "refresh_token": "refresh-1"}
            return self.answer(
                200,
                {
                    "user_id": "uid-42",
                    "id_token": "id-token-2",
                    "refresh_token": "refresh-1",
                    "expires_in": "3600",
                },
            )
        return self.answer(404, {"error": {"message": "NOT_FOUND"}})

    def answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_auth(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    calls: list[tuple[str, dict[str, Any]]] = []
    handler = type("Auth", (FakeFirebaseAuth,), {"calls": calls})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", f"127.0.0.1:{server.server_address[1]}")
    yield calls
    server.shutdown()
    server.server_close()


def test_real_project_sign_in_keeps_the_refresh_token_and_refreshes_id_tokens(
    home: Path, fake_auth: list[tuple[str, dict[str, Any]]]
) -> None:
    runner = CliRunner()
    args = ["login", "--email", "ann@example.com", "--project", "prod-p"]
    args += ["--api-url", "https://api.example", "--api-key", "web-key"]

    wrong = runner.invoke(app, args, input="nope\n")
    assert wrong.exit_code == 1
    assert wrong.stderr.strip() == "error SIGN_IN_FAILED: INVALID_PASSWORD"

    done = runner.invoke(app, args, input="s3cret\n")
    assert done.exit_code == 0, done.output
    assert "Signed in as ann@example.com (project prod-p)" in done.stdout
    assert "s3cret" not in config.config_path().read_text()
    profile = config.load()
    assert (profile.mode, profile.uid, profile.refresh_token) == ("project", "uid-42", "refresh-1")
    assert stat.S_IMODE(config.config_path().stat().st_mode) == 0o600

    # Commands get their ID token from the refresh token, once until it nears expiry.
    tokens = TokenSource(profile)
    assert tokens.token() == tokens.token() == "id-token-2"
    assert [path for path, _ in fake_auth].count("/securetoken.googleapis.com/v1/token") == 1


def test_email_sign_in_needs_the_project_settings(home: Path) -> None:
    done = CliRunner().invoke(app, ["login", "--email", "ann@example.com"])
    assert done.exit_code == 1
    assert done.stderr.startswith("error INVALID_ARGUMENT: --email needs --project")
