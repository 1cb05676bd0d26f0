"""GET/POST /devices, DELETE /devices/{id}, PUT /notification-settings through the HTTP app."""

from __future__ import annotations

import json

import pytest
from qgen.domain.devices import device_id_for
from qgen.http.app import ApiApp

from tests.support.fakes import MemoryStore
from tests.support.http_app import JSON, api, body_of, call, error_of

TOKEN = "fcm-token:" + "c" * 140


@pytest.fixture(autouse=True)
def auth_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099")


@pytest.fixture
def app() -> ApiApp:
    store = MemoryStore()
    return api(store, store)


def post(app: ApiApp, path: str, body: object, method: str = "POST", uid: str = "alice"):  # type: ignore[no-untyped-def]
    return call(app, method, path, uid=uid, content=json.dumps(body).encode(), headers=JSON)


def test_register_list_switch_and_remove(app: ApiApp) -> None:
    registered = body_of(post(app, "/devices", {"token": TOKEN}), 201)
    device_id = device_id_for(TOKEN)
    assert registered["notificationsEnabled"] is True
    assert [d["deviceId"] for d in registered["devices"]] == [device_id]
    assert TOKEN not in json.dumps(registered), "the token is never echoed back"
    assert body_of(call(app, "GET", "/devices"), 200) == registered
    off = body_of(post(app, "/notification-settings", {"notificationsEnabled": False}, "PUT"), 200)
    assert off["notificationsEnabled"] is False
    gone = body_of(call(app, "DELETE", f"/devices/{device_id}"), 200)
    assert gone["devices"] == []


def test_bad_requests_get_stable_codes(app: ApiApp) -> None:
    error_of(post(app, "/devices", {"token": "no"}), 400, "INVALID_ARGUMENT")
    error_of(post(app, "/devices", {"token": TOKEN, "extra": 1}), 400, "INVALID_ARGUMENT")
    error_of(
        post(app, "/notification-settings", {"notificationsEnabled": "yes"}, "PUT"),
        400,
        "INVALID_ARGUMENT",
    )
    error_of(call(app, "GET", "/devices", uid=None), 401, "UNAUTHENTICATED")
    error_of(call(app, "PUT", "/devices"), 405, "METHOD_NOT_ALLOWED")
