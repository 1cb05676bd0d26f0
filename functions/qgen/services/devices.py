"""A learner's devices and notification switch: register, remove, list, switch on or off."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..domain import devices as rules
from ..domain.devices import Devices
from .ports import Clock, JobTransaction, UnitOfWork

# A few per learner: a phone, a tablet, a browser or two.
MAX_DEVICES = 5


@dataclass
class DevicesService:
    uow: UnitOfWork
    clock: Clock

    def _change(self, user_id: str, change: Callable[[Devices], Devices]) -> Devices:
        def body(tx: JobTransaction) -> Devices:
            after = change(tx.read_devices(user_id))
            tx.save_devices(user_id, after)
            return after

        return self.uow.run(body)

    def list(self, user_id: str) -> Devices:
        return self.uow.run(lambda tx: tx.read_devices(user_id))

    def register(self, user_id: str, token: str) -> Devices:
        now = self.clock()
        return self._change(
            user_id, lambda d: rules.register(d, token, now=now, max_devices=MAX_DEVICES)
        )

    def remove(self, user_id: str, device_id: str) -> Devices:
        return self._change(user_id, lambda d: rules.remove(d, {device_id}))

    def switch(self, user_id: str, *, enabled: bool) -> Devices:
        return self._change(user_id, lambda d: rules.switched(d, enabled=enabled))
