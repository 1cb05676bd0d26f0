"""Sending the outbox: a job's end notification handed to FCM after the commit that wrote it.

The worker that ended a job sends at once (`job_ended`); the sweep sends what is still due
(`send_due`): left by a worker that died, or by a send FCM failed. A sweep's send holds the
notification first (`notifications.claim`), so two sweeps never send it at once; the ending
worker's send needs no hold, because the sweep leaves a notification alone for a grace period
longer than a send can take. Sending never fails the job: every error is logged and the
notification retried by the sweep a bounded number of times.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..domain import devices as device_rules
from ..domain import notifications as rules
from ..domain.jobs import StoredJob
from ..domain.notifications import (
    Notification,
    SendReport,
    Settled,
    TokenResult,
    notification_id,
)
from .ports import Clock, JobTransaction, Notifier, UnitOfWork

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Send:
    """One send started: the notification as it stood and the devices it goes to."""

    notification_id: str
    notification: Notification
    tokens: dict[str, str]  # device id -> registration token


# A unit of work's body that starts a send (None: nothing to send).
_Start = Callable[[JobTransaction], _Send | None]


@dataclass
class NotificationSender:
    uow: UnitOfWork
    notifier: Notifier
    clock: Clock

    def _send_now(self, notification_id: str) -> Settled | None:
        """The ending worker's send, right after its commit; None if there was nothing to send
        (already sent, or taken over by the sweep)."""

        def read(tx: JobTransaction) -> _Send | None:
            notification = tx.read_notification(notification_id)
            if notification is None or notification.sends:
                return None
            return self._send_of(tx, notification_id, notification)

        return self._guarded(notification_id, read)

    def job_ended(self, stored: StoredJob) -> Settled | None:
        """Send the notification the job's end wrote, if it wrote one."""
        job = stored.job
        if not (job.notify and job.is_terminal):
            return None
        return self._send_now(notification_id(stored.job_id, job.run))

    def send_due(self, notification_ids: Iterable[str]) -> dict[Settled, int]:
        """The sweep's sends of the due notifications; how each ended."""
        settled: dict[Settled, int] = {}
        for due in notification_ids:
            result = self._guarded(due, self._claim(due))
            if result is not None:
                settled[result] = settled.get(result, 0) + 1
        return settled

    def _claim(self, due: str) -> _Start:
        now = self.clock()

        def claim(tx: JobTransaction) -> _Send | None:
            claimed = rules.claim(tx.read_notification(due), now=now)
            if claimed is None:
                return None
            send = self._send_of(tx, due, claimed)
            tx.save_notification(due, claimed)
            return send

        return claim

    def _send_of(self, tx: JobTransaction, notification_id: str, n: Notification) -> _Send:
        return _Send(notification_id, n, rules.recipients(n, tx.read_devices(n.user_id)))

    def _guarded(self, notification_id: str, start: _Start) -> Settled | None:
        try:
            send = self.uow.run(start)
            if send is None:
                return None
            report = self.notifier.send(send.notification, send.tokens) if send.tokens else None
            return self._settle(send, report or SendReport({}))
        except Exception:  # a notification never fails the job or the sweep: the outbox keeps it
            log.exception(
                "notification send failed",
                extra={"notificationId": notification_id, "event": "notification.error"},
            )
            return None

    def _settle(self, send: _Send, report: SendReport) -> Settled:
        now = self.clock()
        dead = report.devices(TokenResult.UNREGISTERED)

        def settle(tx: JobTransaction) -> Settled:
            current = tx.read_notification(send.notification_id)
            user_id = send.notification.user_id
            devices = tx.read_devices(user_id) if dead else None
            decision, rescheduled = rules.settle(
                current, sends=send.notification.sends, report=report, now=now
            )
            if devices is not None:
                tx.save_devices(user_id, device_rules.remove(devices, dead))
            if rescheduled is not None:
                tx.save_notification(send.notification_id, rescheduled)
            elif decision in (Settled.DONE, Settled.ABANDONED):
                tx.delete_notification(send.notification_id)
            return decision

        decision = self.uow.run(settle)
        self._log(send, report, decision)
        return decision

    def _log(self, send: _Send, report: SendReport, decision: Settled) -> None:
        n = send.notification
        elapsed = self.clock() - n.created_at
        log.log(
            logging.WARNING if decision is Settled.ABANDONED else logging.INFO,
            "notification %s",
            decision.value,
            extra={
                "event": f"notification.{decision.value}",
                "jobId": n.job_id,
                "userId": n.user_id,
                "notificationId": send.notification_id,
                "send": n.sends,
                "devices": {r.value: len(report.devices(r)) for r in TokenResult},
                "sinceJobEndMs": int(elapsed.total_seconds() * 1000),
                "error": report.error,
            },
        )
