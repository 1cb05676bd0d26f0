"""Job-end notifications through the real firebase-admin messaging client, offline.

The real FcmNotifier and NotificationSender on the Firestore emulator, with jobs ended by the
real WorkerService against the offline model server. firebase-admin is not patched: its
messages reach a local stand-in for the FCM HTTP v1 endpoint (tests/support/fake_fcm.py)
through ``HTTPS_PROXY`` and a test CA, after an OAuth2 grant at the stand-in's token endpoint.
An audit hook fails any test that resolves or reaches a non-loopback address.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import firebase_admin
import pytest
import requests
from firebase_admin import credentials
from qgen.adapters.clock import utc_now
from qgen.adapters.fcm import messaging_app
from qgen.domain.devices import device_id_for
from qgen.domain.notifications import Settled

from dev.model_server.client import AdminClient
from tests.conftest import PROJECT_ID
from tests.support.backends import FirestoreBackend
from tests.support.fake_fcm import Answer, FakeFcm
from tests.support.fake_google import staying_on_loopback
from tests.support.notification_services import Clock, Service

pytestmark = pytest.mark.integration

PHONE, LAPTOP = "phone-token-" + "p" * 40, "laptop-token-" + "l" * 40


@pytest.fixture(scope="module")
def fcm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeFcm]:
    with FakeFcm(tmp_path_factory.mktemp("fake-fcm"), project_id=PROJECT_ID) as fake:
        yield fake


@pytest.fixture(scope="module")
def app(fcm: FakeFcm) -> Iterator[firebase_admin.App]:
    # A name of its own: an app made earlier in the session may hold other credentials.
    credential = credentials.Certificate(fcm.service_account())
    made = messaging_app(PROJECT_ID, credential, name=f"qgen-fcm-test-{secrets.token_hex(4)}")
    yield made
    firebase_admin.delete_app(made)


@pytest.fixture(autouse=True)
def offline(fcm: FakeFcm, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    fcm.script.clear()
    fcm.received.clear()
    for name, value in fcm.environment().items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    with staying_on_loopback():
        yield


@pytest.fixture
def service(
    db: Any, app: firebase_admin.App, model_server_url: str, model_admin: AdminClient
) -> Service:
    return Service(db, app, model_server_url, Clock())


def test_each_device_gets_one_message_tagged_with_the_job(service: Service, fcm: FakeFcm) -> None:
    service.register(PHONE, LAPTOP)
    job_id = service.create()

    assert service.worker().process(job_id).outcome == "completed"

    job = FirestoreBackend(service.db).job(job_id)
    title = f"{job.questions_saved} questions on {job.topic} are ready"
    for token in (PHONE, LAPTOP):
        (received,) = fcm.to(token)
        message = received.message
        assert message["notification"] == {"title": title, "body": "Tap to start studying."}
        assert message["data"] == {"jobId": job_id, "status": "completed"}
        assert message["android"] == {"collapse_key": job_id, "notification": {"tag": job_id}}
        assert message["apns"]["headers"] == {"apns-collapse-id": job_id}
        assert message["webpush"]["notification"] == {"tag": job_id}
        # Authorised by the access token the stand-in granted the service account.
        assert received.authorization == f"Bearer {fcm.access_token}"
    assert fcm.log.count("POST /token") >= 1
    assert service.outbox(job_id) is None


def test_an_unregistered_token_is_pruned_and_the_other_device_served(
    service: Service, fcm: FakeFcm
) -> None:
    service.register(PHONE, LAPTOP)
    fcm.script[PHONE] = Answer.UNREGISTERED
    job_id = service.create()

    service.worker().process(job_id)

    assert [r.answer for r in fcm.received if r.token == PHONE] == [Answer.UNREGISTERED]
    assert len(fcm.to(LAPTOP)) == 1
    assert service.devices() == {device_id_for(LAPTOP)}
    assert service.outbox(job_id) is None


def test_a_5xx_keeps_the_notification_for_the_sweep_which_sends_the_rest(
    service: Service, fcm: FakeFcm
) -> None:
    service.register(PHONE, LAPTOP)
    fcm.script[PHONE] = Answer.BAD_GATEWAY
    job_id = service.create()

    service.worker().process(job_id)
    ended = utc_now()

    kept = service.outbox(job_id)
    assert kept is not None
    assert kept["sentTo"] == [device_id_for(LAPTOP)]
    assert kept["sends"] == 0
    assert kept["dueAt"] > ended
    assert "502" in kept["lastError"]
    assert len(fcm.to(PHONE)) == 1  # firebase-admin does not retry a 502 itself

    service.clock.skip = timedelta(minutes=2)  # the sweep, once the notification is due
    assert service.sweep() == {Settled.RESCHEDULED: 1}  # FCM still failing
    again = service.outbox(job_id)
    assert again is not None
    assert again["sends"] == 1
    assert again["dueAt"] > kept["dueAt"]

    fcm.script.clear()  # FCM is back
    service.clock.skip = timedelta(minutes=5)
    assert service.sweep() == {Settled.DONE: 1}

    assert [r.answer for r in fcm.to(PHONE)] == [Answer.BAD_GATEWAY] * 2 + [Answer.OK]
    assert len(fcm.to(LAPTOP)) == 1  # the device that had it is not sent it again
    assert service.outbox(job_id) is None
    assert service.sweep() == {}


def test_duplicate_deliveries_notify_each_device_exactly_once(
    service: Service, fcm: FakeFcm, model_admin: AdminClient
) -> None:
    model_admin.config(paceMs=5)  # the two deliveries overlap
    service.register(PHONE, LAPTOP)
    job_id = service.create()

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = sorted(
            pool.map(lambda w: w.process(job_id).outcome, [service.worker(), service.worker()])
        )
    late = service.worker().process(job_id).outcome
    service.clock.skip = timedelta(minutes=2)
    swept = service.sweep()

    assert outcomes.count("completed") == 1, outcomes
    assert late == "terminal"
    assert swept == {}
    assert len(fcm.to(PHONE)) == len(fcm.to(LAPTOP)) == 1
    assert {r.message["data"]["jobId"] for r in fcm.received} == {job_id}


def test_a_worker_gone_after_the_commit_leaves_it_to_the_sweep_which_sends_it_once(
    service: Service, fcm: FakeFcm
) -> None:
    service.register(PHONE)
    job_id = service.create()
    worker = service.worker()
    worker.notifications = None  # the commit happened; the process died before its send

    worker.process(job_id)
    service.clock.skip = timedelta(seconds=30)
    early = service.sweep()  # the ending worker's grace period is not over
    service.clock.skip = timedelta(minutes=2)
    swept, again = service.sweep(), service.sweep()

    assert early == {}
    assert again == {}
    assert swept == {Settled.DONE: 1}
    assert len(fcm.to(PHONE)) == 1
    assert service.outbox(job_id) is None


def test_the_stand_in_never_dials_out(fcm: FakeFcm) -> None:
    # Anything but fcm.googleapis.com is refused at CONNECT: nothing can leak to the internet.
    with pytest.raises(requests.exceptions.ProxyError):
        requests.get("https://example.com/", proxies={"https": fcm.url}, timeout=5)
    assert "CONNECT example.com:443" in fcm.log
