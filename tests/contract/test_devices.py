"""A learner's devices for notifications, on both backends (issue 12, first part)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from qgen.domain.devices import device_id_for
from qgen.domain.errors import DomainError, ErrorCode
from qgen.services.devices import MAX_DEVICES, DevicesService

from tests.support.backends import Backend
from tests.support.fakes import FakeClock

TOKEN = "fcm-token:" + "a" * 140


def token(n: int) -> str:
    return f"fcm-token-{n}:" + "b" * 140


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def service(backend: Backend, clock: FakeClock) -> DevicesService:
    return DevicesService(uow=backend.uow, clock=clock)


def test_a_device_is_registered_once_listed_and_removed(service: DevicesService) -> None:
    assert service.list("alice").devices == []
    service.register("alice", TOKEN)
    again = service.register("alice", TOKEN)
    assert [d.device_id for d in again.devices] == [device_id_for(TOKEN)]
    assert service.list("alice") == again
    assert service.list("bob").devices == [], "a learner's devices are their own"
    removed = service.remove("alice", device_id_for(TOKEN))
    assert removed.devices == []
    assert service.remove("alice", "no-such-device").devices == [], "removal is idempotent"


def test_past_the_cap_the_oldest_device_goes(service: DevicesService, clock: FakeClock) -> None:
    for n in range(MAX_DEVICES + 2):
        clock.advance(60)
        service.register("alice", token(n))
    listed = service.list("alice").devices
    assert [d.token for d in listed] == [token(n) for n in range(2, MAX_DEVICES + 2)]
    assert listed[-1].added_at - listed[0].added_at == timedelta(minutes=MAX_DEVICES - 1)


def test_notifications_can_be_switched_off_and_on(service: DevicesService) -> None:
    service.register("alice", TOKEN)
    off = service.switch("alice", enabled=False)
    assert not off.notifications_enabled
    assert len(off.devices) == 1, "switching off keeps the devices"
    assert service.switch("alice", enabled=True).notifications_enabled


@pytest.mark.parametrize("bad", ["", "short", "has space " + "x" * 40, "x" * 5000, "é" * 40])
def test_what_is_not_a_registration_token_is_refused(service: DevicesService, bad: str) -> None:
    with pytest.raises(DomainError) as exc:
        service.register("alice", bad)
    assert exc.value.code is ErrorCode.INVALID_ARGUMENT
    assert service.list("alice").devices == []
