"""A learner's devices for push notifications (FCM registration tokens), and their switch. Pure.

A few devices per learner, newest kept: a learner who reinstalls the app gets a new token, and
the stale one is dropped once FCM reports it unregistered, or when the list is full.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Final

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from .errors import DomainError, ErrorCode

# FCM registration tokens are ~150–200 URL-safe characters; anything far off is not one.
_TOKEN: Final = re.compile(r"[A-Za-z0-9_:\-.]{20,4096}")


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Device(_Camel):
    device_id: str
    token: str
    added_at: datetime


class Devices(_Camel):
    """learnerDevices/{uid}."""

    devices: list[Device] = Field(default_factory=list)
    notifications_enabled: bool = True

    @property
    def reachable(self) -> bool:
        """A notification would reach someone: switched on, with a device."""
        return self.notifications_enabled and bool(self.devices)


def device_id_for(token: str) -> str:
    """A stable, short id for a token (the token itself is never echoed back)."""
    return hashlib.sha256(token.encode()).hexdigest()[:24]


def register(devices: Devices, token: str, *, now: datetime, max_devices: int) -> Devices:
    """The devices with ``token`` added (again: moved to the newest), the oldest dropped past
    ``max_devices``."""
    if not _TOKEN.fullmatch(token):
        raise DomainError(
            ErrorCode.INVALID_ARGUMENT,
            "'token' must be an FCM registration token.",
            details={"field": "token"},
        )
    device_id = device_id_for(token)
    kept = [d for d in devices.devices if d.device_id != device_id]
    added = Device(device_id=device_id, token=token, added_at=now)
    return devices.model_copy(update={"devices": [*kept, added][-max_devices:]})


def remove(devices: Devices, device_ids: set[str]) -> Devices:
    """The devices without ``device_ids`` (unknown ids are ignored: removal is idempotent);
    also how devices FCM reports unregistered are pruned."""
    kept = [d for d in devices.devices if d.device_id not in device_ids]
    return devices.model_copy(update={"devices": kept})


def switched(devices: Devices, *, enabled: bool) -> Devices:
    return devices.model_copy(update={"notifications_enabled": enabled})
