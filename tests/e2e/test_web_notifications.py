"""The web client's notifications (clients/web/src/notifications.ts) in headless Chromium.

Two builds of the app against the local stack, as in test_web_client.py: the emulator-only one
that `make dev` and the demo run (no Cloud Messaging: the panel says notifications are not
available and the page never calls /devices), and one with a messaging config injected
(VITE_FIREBASE_MESSAGING_SENDER_ID, VITE_FIREBASE_VAPID_KEY). Chromium here cannot reach FCM, so
only the browser's token source is stubbed: PushManager's subscription (an init script) and the
two Google endpoints that firebase/messaging's getToken turns it into an FCM token with (Firebase
Installations and FCM registrations, routed in the page). The rest is real: the permission asked
on the button, the app's service worker, getToken with the VAPID key, POST /devices and
PUT /notification-settings through the api, and the service worker showing a pushed notification.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from qgen.adapters.firestore.names import LEARNER_DEVICES
from qgen.domain.devices import device_id_for

from dev.stack import Stack, free_port
from tests.conftest import PROJECT_ID
from tests.e2e.conftest import ApiSpawner, bearer
from tests.e2e.test_web_client import WEB, _Quiet, browser  # noqa: F401 - the browser fixture

pytestmark = pytest.mark.e2e

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

# A P-256 public key in base64url, as the console's Web Push certificates give one.
VAPID_KEY = (
    "BEl62iUYgUivxIkv69yViEuiBIa-Ib9-SkvMeAtA3LFgDzkrxZJjSgSnfckjBJuBkr3qBUYIHBQFLXYp5Nksh8U"
)
MESSAGING = {
    "VITE_FIREBASE_API_KEY": "e2e-api-key",
    "VITE_FIREBASE_APP_ID": "1:123456789012:web:e2e",
    "VITE_FIREBASE_MESSAGING_SENDER_ID": "123456789012",
    "VITE_FIREBASE_VAPID_KEY": VAPID_KEY,
}
TOKEN = "e2e-fcm-token:APA91b" + "x" * 140
NOT_AVAILABLE = "Not available on the local emulator stack"

# The browser's token source, stubbed in the page (an init script): a push subscription without
# a push service, and the two Google endpoints getToken turns it into an FCM token with (Firebase
# Installations; FCM registrations, which answers TOKEN and whose requests are kept in
# window.fcmRegistrations). Also counts the permission requests and whether each came with a
# user gesture. (Not page.route: while it intercepts, Playwright answers every CORS preflight
# itself, and the api's own CORS answers would go untested.)
STUB_TOKEN_SOURCE = """
(() => {
  window.permissionAsks = [];
  const ask = Notification.requestPermission.bind(Notification);
  Notification.requestPermission = (...args) => {
    window.permissionAsks.push(navigator.userActivation.isActive);
    return ask(...args);
  };
  const key = (length) => new Uint8Array(length).map((_, i) => i + 1).buffer;
  const subscription = {
    endpoint: "https://fcm.googleapis.com/fcm/send/e2e",
    expirationTime: null,
    options: { userVisibleOnly: true },
    getKey: (name) => key(name === "p256dh" ? 65 : 16),
    toJSON: () => ({ endpoint: "https://fcm.googleapis.com/fcm/send/e2e" }),
    unsubscribe: async () => true,
  };
  let current = null;
  PushManager.prototype.getSubscription = async function () { return current; };
  PushManager.prototype.subscribe = async function () { return (current = subscription); };

  window.fcmRegistrations = [];
  const json = (body) => new Response(JSON.stringify(body), {
    headers: { "Content-Type": "application/json" },
  });
  const realFetch = window.fetch.bind(window);
  window.fetch = async (input, init) => {
    const url = String(input instanceof Request ? input.url : input);
    if (url.startsWith("https://firebaseinstallations.googleapis.com/")) {
      const fid = JSON.parse(init?.body ?? "{}").fid;
      const authToken = { token: "e2e-auth", expiresIn: "604800s" };
      return json({ fid, refreshToken: "e2e-refresh", authToken });
    }
    if (url.startsWith("https://fcmregistrations.googleapis.com/")) {
      window.fcmRegistrations.push(JSON.parse(init?.body ?? "{}"));
      return json({ token: TOKEN });
    }
    return realFetch(input, init);
  };
})();
""".replace("TOKEN", json.dumps(TOKEN))


def _build(out: Any, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(WEB / "node_modules" / ".bin" / "vite"), "build", "--outDir", str(out)],
        cwd=WEB,
        env={**os.environ, "VITE_QGEN_MODE": "local", "VITE_QGEN_PROJECT_ID": PROJECT_ID, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture(scope="module")
def web_apps(
    stack: Stack, spawner: ApiSpawner, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """{"local": origin, "messaging": origin, "api": url}: the two builds, served on their own
    ports, and the api function they call, which lets both origins through CORS."""
    ports = {"local": free_port(), "messaging": free_port()}
    origins = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    api = spawner(cors_allowed_origins=",".join(origins.values())).rstrip("/")
    common = {
        "VITE_QGEN_API_URL": api,
        "VITE_QGEN_FIRESTORE_EMULATOR": stack.config.firestore_address,
    }
    outs = {name: tmp_path_factory.mktemp(f"web-{name}") for name in ports}
    builds = {
        "local": _build(outs["local"], common),
        "messaging": _build(outs["messaging"], {**common, **MESSAGING}),
    }
    for build in builds.values():
        output, _ = build.communicate(timeout=120)
        assert build.returncode == 0, output
    servers = []
    for name, port in ports.items():
        handler = functools.partial(_Quiet, directory=outs[name])
        server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    yield {**origins, "api": api}
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def open_app(browser: Any, web_apps: dict[str, str], db: Any) -> Iterator[Callable[..., Any]]:  # noqa: F811
    """open_app(build, uid): a fresh context signed in as that local user; the page records the
    requests it makes in `page.requests` and its uncaught errors fail the test."""
    contexts: list[Any] = []
    errors: list[str] = []

    def _open(build: str, uid: str, *, setup: Callable[[Any], None] | None = None) -> Any:
        context = browser.new_context()
        contexts.append(context)
        if setup:
            setup(context)
        page = context.new_page()
        page.requests = []
        page.on("request", lambda request: page.requests.append(request.url))
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(web_apps[build] + "/")
        page.get_by_label("User name").fill(uid)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#user-label")).to_have_text(f"{uid} (local)")
        page.locator("#tasks-toggle").click()
        return page

    yield _open
    for context in contexts:
        context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def test_on_the_local_stack_the_panel_says_notifications_are_unavailable(
    open_app: Callable[..., Any],
) -> None:
    page = open_app("local", "ada")
    notify = page.get_by_role("region", name="Notifications")
    expect(notify).to_contain_text(NOT_AVAILABLE)
    expect(notify.get_by_role("button")).to_have_count(0)
    # The limits load (the api answers this page), yet nothing asked about devices.
    expect(page.locator('.limits [data-limit="active"] .limit-value')).to_have_text("0 of 3")
    assert not [url for url in page.requests if "/devices" in url or "/notification-" in url]
    assert page.evaluate("navigator.serviceWorker.getRegistrations()") == []


def test_the_button_registers_the_fcm_token_and_the_learner_switches_notifications_off(
    open_app: Callable[..., Any], web_apps: dict[str, str], db: Any
) -> None:
    def setup(context: Any) -> None:
        context.add_init_script(STUB_TOKEN_SOURCE)
        context.grant_permissions(["notifications"], origin=web_apps["messaging"])

    page = open_app("messaging", "ada", setup=setup)
    notify = page.get_by_role("region", name="Notifications")
    expect(notify).to_contain_text("Off in this browser.")
    # Nothing is asked on page load: the permission only on the button, with its gesture.
    assert page.evaluate("window.permissionAsks") == []
    notify.get_by_role("button", name="Turn on notifications").click()
    expect(notify).to_contain_text("On: this browser is told when a job ends.")
    assert page.evaluate("window.permissionAsks") == [True]

    # getToken subscribed with the VAPID key, and the api has the token for this learner.
    (registration,) = page.evaluate("window.fcmRegistrations")
    assert registration["web"]["applicationPubKey"] == VAPID_KEY
    with httpx.Client(base_url=web_apps["api"], timeout=30) as client:
        devices = client.get("/devices", headers=bearer("ada")).json()
        assert [d["deviceId"] for d in devices["devices"]] == [device_id_for(TOKEN)]
        assert devices["notificationsEnabled"] is True
        assert client.get("/devices", headers=bearer("bob")).json()["devices"] == []
    stored = db.collection(LEARNER_DEVICES).document("ada").get().to_dict()
    assert [d["token"] for d in stored["devices"]] == [TOKEN]

    # A push for a job, then its resend: one notification, tagged with the job id, replaced.
    push = _push_to_service_worker(page)
    data = {"jobId": "job-e2e", "status": "completed"}
    title = "8 questions on world capitals are ready"
    push({"notification": {"title": title, "body": "first"}, "data": data})
    assert _notifications(page, 1) == [{"title": title, "body": "first", "tag": "job-e2e"}]
    push({"notification": {"title": title, "body": "resent"}, "data": data})
    page.wait_for_function(
        "navigator.serviceWorker.getRegistration().then(r => r.getNotifications())"
        ".then(ns => ns.some(n => n.body === 'resent'))"
    )
    assert _notifications(page, 1) == [{"title": title, "body": "resent", "tag": "job-e2e"}]

    # Switched off: PUT /notification-settings, the devices kept.
    notify.get_by_role("button", name="Turn off notifications").click()
    expect(notify).to_contain_text("Off for all your devices.")
    assert any(url.endswith("/notification-settings") for url in page.requests)
    with httpx.Client(base_url=web_apps["api"], timeout=30) as client:
        devices = client.get("/devices", headers=bearer("ada")).json()
    assert devices["notificationsEnabled"] is False
    assert len(devices["devices"]) == 1

    # Signing out removes this browser from the learner's devices (DELETE /devices/{id}).
    page.locator("#sign-out").click()
    expect(page.get_by_label("User name")).to_be_visible()
    with httpx.Client(base_url=web_apps["api"], timeout=30) as client:
        assert client.get("/devices", headers=bearer("ada")).json()["devices"] == []


def _push_to_service_worker(page: Any) -> Callable[[dict[str, Any]], None]:
    """push(payload): delivers an FCM-shaped payload to the page's service worker through
    DevTools, as the browser's push service would."""
    cdp = page.context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda e: registrations.extend(e["registrations"]),
    )
    page.wait_for_function("navigator.serviceWorker.getRegistration().then(r => !!r?.active)")
    cdp.send("ServiceWorker.enable")
    origin = page.evaluate("location.origin")
    (registration_id,) = {
        r["registrationId"] for r in registrations if r["scopeURL"] == origin + "/"
    }

    def push(payload: dict[str, Any]) -> None:
        message = {"origin": origin, "registrationId": registration_id, "data": json.dumps(payload)}
        cdp.send("ServiceWorker.deliverPushMessage", message)

    return push


def _notifications(page: Any, count: int) -> list[dict[str, str]]:
    """The notifications the service worker shows, once there are `count`."""
    shown = """navigator.serviceWorker.getRegistration().then(r => r.getNotifications())
        .then(ns => ns.map(n => ({title: n.title, body: n.body, tag: n.tag})))"""
    page.wait_for_function(f"({shown}).then(ns => ns.length === {count})")
    result: list[dict[str, str]] = page.evaluate(shown)
    return result
