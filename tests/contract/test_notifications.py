"""The notification outbox on both backends: written in the commit that ends the job, sent
after it, left for the sweep when the send dies, and dead devices pruned."""

from __future__ import annotations

from datetime import timedelta

import pytest
from qgen.config import Settings
from qgen.domain.jobs import JobStatus
from qgen.domain.notifications import SENDER_GRACE, TokenResult
from qgen.services.cleanup import CleanupService
from qgen.services.devices import DevicesService
from qgen.services.jobs import CreateRequest, JobService
from qgen.services.notifications import NotificationSender
from qgen.services.worker import DeliveryOutcome, WorkerService

from tests.support.backends import Backend
from tests.support.fakes import FakeClock, FakeNotifier, InMemoryTaskQueue, ScriptedModel
from tests.support.questions import answer_stream

PHONE, LAPTOP = "fcm-phone:" + "a" * 140, "fcm-laptop:" + "b" * 140
SETTINGS = Settings(project_id="t", progress_write_interval_seconds=0)


class Services:
    def __init__(self, backend: Backend) -> None:
        self.backend, self.clock, self.notifier = backend, FakeClock(), FakeNotifier()
        self.sender = NotificationSender(uow=backend.uow, notifier=self.notifier, clock=self.clock)
        self.devices = DevicesService(uow=backend.uow, clock=self.clock)
        self.jobs = JobService(
            uow=backend.uow,
            reader=backend.reader,
            queue=InMemoryTaskQueue(),
            settings=SETTINGS,
            clock=self.clock,
            notifications=self.sender,
        )

    def run_job(self) -> str:
        request = CreateRequest(user_id="alice", prompt="NATO alphabet", client_ip="203.0.113.9")
        job_id = self.jobs.create(request).stored.job_id
        worker = WorkerService(
            uow=self.backend.uow,
            reader=self.backend.reader,
            model=ScriptedModel(pieces=answer_stream(2)),
            settings=SETTINGS,
            clock=self.clock,
            notifications=self.sender,
        )
        assert worker.process(job_id).outcome is DeliveryOutcome.COMPLETED
        return job_id

    def outbox(self) -> list[str]:
        return list(self.backend.scans.due_notifications(self.clock.now + timedelta(days=2)))

    def sweep(self) -> dict[str, int]:
        service = CleanupService(
            scans=self.backend.scans,
            uow=self.backend.uow,
            queue=InMemoryTaskQueue(),
            settings=SETTINGS,
            clock=self.clock,
            notifications=self.sender,
        )
        return service.recovery().notifications


@pytest.fixture
def services(backend: Backend) -> Services:
    return Services(backend)


def test_a_job_end_is_sent_once_to_each_device_and_the_outbox_emptied(services: Services) -> None:
    services.devices.register("alice", PHONE)
    services.devices.register("alice", LAPTOP)
    job_id = services.run_job()
    ((notification, tokens),) = services.notifier.sent
    assert sorted(tokens.values()) == sorted([PHONE, LAPTOP])
    assert (notification.job_id, notification.status) == (job_id, JobStatus.COMPLETED)
    assert services.outbox() == []


def test_a_send_that_died_is_in_the_outbox_and_the_sweep_sends_it(services: Services) -> None:
    services.devices.register("alice", PHONE)
    services.notifier.fail_with = RuntimeError("instance died")
    job_id = services.run_job()
    assert services.backend.job(job_id).status is JobStatus.COMPLETED
    assert services.outbox() == [f"{job_id}-run0"]
    services.notifier.fail_with = None
    services.clock.advance(SENDER_GRACE.total_seconds() + 1)
    assert services.sweep() == {"done": 1}
    assert len(services.notifier.sent) == 1
    assert services.outbox() == []


def test_an_unregistered_device_is_pruned(services: Services) -> None:
    services.devices.register("alice", PHONE)
    services.devices.register("alice", LAPTOP)
    services.notifier.answers[PHONE] = TokenResult.UNREGISTERED
    services.run_job()
    assert [d.token for d in services.devices.list("alice").devices] == [LAPTOP]
    assert services.outbox() == []
