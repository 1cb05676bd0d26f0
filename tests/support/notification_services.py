"""The notification path of the services on the Firestore emulator, for
tests/integration/test_notifications_fcm.py: the real NotificationSender, JobService,
WorkerService and cleanup scans around one FcmNotifier, with a clock a test can move on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import firebase_admin
from qgen.adapters.clock import utc_now
from qgen.adapters.fcm import FcmNotifier
from qgen.adapters.firestore.cleanup import FirestoreCleanupScans
from qgen.adapters.firestore.names import LEARNER_DEVICES, NOTIFICATION_OUTBOX
from qgen.adapters.gemini import GeminiModel
from qgen.config import Settings
from qgen.domain.notifications import Settled, notification_id
from qgen.services.devices import DevicesService
from qgen.services.jobs import CreateRequest, JobService
from qgen.services.notifications import NotificationSender
from qgen.services.worker import WorkerService

from tests.conftest import PROJECT_ID
from tests.support.backends import FirestoreBackend
from tests.support.fakes import InMemoryTaskQueue


@dataclass
class Clock:
    """utc_now, moved on by ``skip`` (the sweep runs after a notification's wait)."""

    skip: timedelta = timedelta()

    def __call__(self) -> datetime:
        return utc_now() + self.skip


@dataclass
class Service:
    db: Any
    app: firebase_admin.App
    model_url: str
    clock: Clock

    def sender(self) -> NotificationSender:
        uow = FirestoreBackend(self.db).uow
        return NotificationSender(uow=uow, notifier=FcmNotifier(self.app), clock=self.clock)

    def register(self, *tokens: str, user: str = "alice") -> None:
        devices = DevicesService(uow=FirestoreBackend(self.db).uow, clock=self.clock)
        for token in tokens:
            devices.register(user, token)

    def create(self, user: str = "alice") -> str:
        b, settings = FirestoreBackend(self.db), Settings(project_id=PROJECT_ID)
        jobs = JobService(
            uow=b.uow,
            reader=b.reader,
            queue=InMemoryTaskQueue(),
            settings=settings,
            clock=self.clock,
            notifications=self.sender(),
        )
        request = CreateRequest(user_id=user, prompt="NATO alphabet", client_ip="203.0.113.1")
        return jobs.create(request).stored.job_id

    def worker(self) -> WorkerService:
        """A worker of its own (another instance, another delivery)."""
        b = FirestoreBackend(self.db)
        settings = Settings(project_id=PROJECT_ID, progress_write_interval_seconds=0.2)
        model = GeminiModel(
            api_key="",
            base_url=self.model_url,
            model=settings.gemini_model,
            timeout_seconds=settings.model_timeout_seconds,
        )
        return WorkerService(
            uow=b.uow,
            reader=b.reader,
            model=model,
            settings=settings,
            clock=self.clock,
            notifications=self.sender(),
        )

    def outbox(self, job_id: str) -> dict[str, Any] | None:
        run = FirestoreBackend(self.db).job(job_id).run
        snapshot = self.db.collection(NOTIFICATION_OUTBOX).document(notification_id(job_id, run))
        document: dict[str, Any] | None = snapshot.get().to_dict()
        return document

    def devices(self, user: str = "alice") -> set[str]:
        document = self.db.collection(LEARNER_DEVICES).document(user).get().to_dict()
        return {d["deviceId"] for d in document["devices"]}

    def sweep(self) -> dict[Settled, int]:
        due = FirestoreCleanupScans(self.db).due_notifications(self.clock())
        return self.sender().send_due(list(due))
