"""Calling the api's ApiApp in process, as functions-framework would, for the hardening tests.

Users sign in with unsigned emulator ID tokens (dev/tokens.py): with FIREBASE_AUTH_EMULATOR_HOST
set, the real ``verify_user`` (firebase-admin) accepts them, so the auth edge runs unpatched.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from functools import partial
from typing import Any

from flask import Request, Response
from qgen.adapters.auth import verify_user
from qgen.config import Settings
from qgen.http.app import ApiApp
from qgen.services.jobs import JobService
from qgen.services.ports import JobReader, UnitOfWork
from werkzeug.test import EnvironBuilder

from dev.tokens import emulator_id_token
from tests.support.fakes import FakeClock, InMemoryTaskQueue

PROJECT = "demo-qgen-test"
JSON = {"Content-Type": "application/json"}


def bearer(uid: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {emulator_id_token(uid, project_id=PROJECT)}"}


def api(
    uow: UnitOfWork,
    reader: JobReader,
    *,
    settings: Settings | None = None,
    verifier: Callable[[str | None], str] | None = None,
) -> ApiApp:
    settings = settings or Settings(project_id=PROJECT)
    service = JobService(
        uow=uow, reader=reader, queue=InMemoryTaskQueue(), settings=settings, clock=FakeClock()
    )
    return ApiApp(
        service=service,
        settings=settings,
        verify_user=verifier or partial(verify_user, project_id=PROJECT),
    )


def call(
    app: ApiApp,
    method: str,
    path: str,
    *,
    uid: str | None = "alice",
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
    chunked: bool = False,
) -> Response:
    """One request. ``chunked``: the body comes without Content-Length, as a chunked upload does
    (the server marks such input as terminated, so it can be read to its end)."""
    all_headers = {**(bearer(uid) if uid is not None else {}), **(headers or {})}
    if content is not None and not chunked:
        builder = EnvironBuilder(method=method, path=path, data=content, headers=all_headers)
        return app.handle(Request(builder.get_environ()))
    builder = EnvironBuilder(method=method, path=path, headers=all_headers)
    environ = builder.get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ["wsgi.input"] = io.BytesIO(content or b"")
    environ["wsgi.input_terminated"] = True
    return app.handle(Request(environ))


def create(app: ApiApp, prompt: str = "NATO alphabet", uid: str = "alice") -> Response:
    return call(
        app, "POST", "/jobs", uid=uid, content=json.dumps({"prompt": prompt}).encode(), headers=JSON
    )


def error_of(response: Response, status: int, code: str) -> dict[str, Any]:
    """The error object of a JSON error answer with this status and stable code."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    text = response.get_data(as_text=True)
    assert "Traceback" not in text
    body = json.loads(text)
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return dict(body["error"])


def body_of(response: Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    return dict(json.loads(response.get_data(as_text=True)))
