"""The `qgen` command without the stack: identity, saved sign-in, real-project sign-in, and
`qgen limits` rendered from a fake API."""

from __future__ import annotations

import base64
import json
import stat
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import pytest
from qgen_cli import config
from qgen_cli.app import app, renews
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


class JsonHandler(BaseHTTPRequestHandler):
    """A quiet local HTTP handler that answers JSON."""

    def answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


class FakeFirebaseAuth(JsonHandler):
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


LIMITS = {
    "activeJobs": {"used": 1, "limit": 3},
    "hourlyJobs": {"used": 2, "limit": 20, "resetsAt": "2026-11-30T23:00:00Z"},
    "dailyTokens": {
        "limit": 40000,
        "spent": 1200,
        "reserved": 4000,
        "remaining": 34800,
        "jobsRemaining": 8,
        "resetsAt": "2026-12-01T00:00:00Z",
    },
}


class FakeApi(JsonHandler):
    """GET /limits as the api function answers it; `answers` says what to send."""

    answers: ClassVar[list[tuple[int, dict[str, Any]]]] = []
    seen: ClassVar[list[tuple[str, str]]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization", "")))
        status, body = self.answers[0] if self.path == "/limits" else (404, {})
        self.answer(status, body)


@pytest.fixture
def fake_api(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[list[tuple[int, dict[str, Any]]], list[tuple[str, str]]]]:
    """The fake API, `qgen` acting as local user alice against it, clocks in UTC+05:30."""
    answers: list[tuple[int, dict[str, Any]]] = [(200, LIMITS)]
    seen: list[tuple[str, str]] = []
    handler = type("Api", (FakeApi,), {"answers": answers, "seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("QGEN_USER", "alice")
    monkeypatch.setenv("QGEN_API_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield answers, seen
    monkeypatch.undo()
    time.tzset()
    server.shutdown()
    server.server_close()


def test_limits_shows_what_is_left_in_local_time(
    fake_api: tuple[list[tuple[int, dict[str, Any]]], list[tuple[str, str]]],
) -> None:
    answers, seen = fake_api
    done = CliRunner().invoke(app, ["limits"], env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    # Midnight UTC is 05:30 in Kolkata; 23:00 UTC is 04:30 there the next day.
    assert lines[0] == "active jobs     1 of 3"
    assert lines[1].startswith("jobs this hour  2 of 20 (renews ")
    assert lines[1].endswith("04:30)")
    assert lines[2].startswith(
        "today's budget  about 8 more jobs today: 34,800 of 40,000 tokens left "
        "(1,200 used, 4,000 held by running jobs; renews "
    )
    assert lines[2].endswith("05:30)")
    (path, authorization) = seen[-1]
    assert path == "/limits"
    assert claims(authorization.removeprefix("Bearer "))["sub"] == "alice"

    as_json = CliRunner().invoke(app, ["limits", "--json"])
    assert json.loads(as_json.stdout) == LIMITS

    # Nothing left for one more job's reservation; one job left is singular.
    spent = {**LIMITS["dailyTokens"], "remaining": 2000, "jobsRemaining": 0}
    answers[0] = (200, {**LIMITS, "dailyTokens": spent})
    assert "today's budget  no more jobs today: 2,000 of 40,000" in (
        CliRunner().invoke(app, ["limits"], env={"COLUMNS": "200"}).stdout
    )
    one = {**LIMITS["dailyTokens"], "jobsRemaining": 1}
    answers[0] = (200, {**LIMITS, "dailyTokens": one})
    assert "about 1 more job today:" in CliRunner().invoke(app, ["limits"]).stdout

    # An API error is the one line of every command.
    answers[0] = (401, {"error": {"code": "UNAUTHENTICATED", "message": "Token expired."}})
    refused = CliRunner().invoke(app, ["limits"])
    assert refused.exit_code == 1
    assert refused.stderr.strip() == "error UNAUTHENTICATED: Token expired."


def test_reset_times_are_worded_in_the_local_time_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        morning = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # 17:30 in Kolkata
        assert renews("2026-11-30T13:00:00Z", now=morning) == "at 18:30"
        assert renews("2026-12-01T00:00:00Z", now=morning) == "tomorrow at 05:30"
        evening = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)  # already Dec 1 in Kolkata
        assert renews("2026-12-01T00:00:00Z", now=evening) == "at 05:30"
        assert renews("2026-12-03T00:00:00Z", now=morning) == "on 2026-12-03 at 05:30"
        assert renews(None) == "at an unknown time"
    finally:
        monkeypatch.undo()
        time.tzset()
