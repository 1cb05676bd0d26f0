"""Notifications on the in-memory ports: exactly one per job end, sent after the commit, kept
by the outbox through failures and crashes, retried by the sweep a bounded number of times."""

from __future__ import annotations

from typing import Any

import pytest
from qgen.config import Settings
from qgen.domain.devices import Devices, register, switched
from qgen.domain.failures import FailureCode, ModelError
from qgen.domain.jobs import JobStatus
from qgen.domain.notifications import MAX_SENDS, SENDER_GRACE, TokenResult
from qgen.services.cleanup import CleanupService
from qgen.services.jobs import CreateRequest, JobService
from qgen.services.notifications import NotificationSender
from qgen.services.worker import DeliveryOutcome, WorkerService

from tests.support.fakes import (
    FakeClock,
    FakeNotifier,
    InMemoryTaskQueue,
    MemoryStore,
    ScriptedModel,
    wait_until,
)
from tests.support.questions import answer_stream

TOKENS = ("token-of-the-phone-0123456789", "token-of-the-laptop-0123456789")


def settings(**overrides: Any) -> Settings:
    return Settings(project_id="t", progress_write_interval_seconds=0, **overrides)


class World:
    """The three services sharing one store, clock and notifier."""

    def __init__(self, store: MemoryStore, clock: FakeClock) -> None:
        self.store, self.clock, self.notifier = store, clock, FakeNotifier()
        self.sender = NotificationSender(uow=store, notifier=self.notifier, clock=clock)
        self.jobs = JobService(
            uow=store,
            reader=store,
            queue=InMemoryTaskQueue(),
            settings=settings(),
            clock=clock,
            notifications=self.sender,
        )
        self.sweep = CleanupService(
            scans=store,
            uow=store,
            queue=InMemoryTaskQueue(),
            settings=settings(),
            clock=clock,
            notifications=self.sender,
        )

    def devices(self, *tokens: str, user: str = "alice") -> None:
        devices = Devices()
        for token in tokens:
            devices = register(devices, token, now=self.clock.now, max_devices=5)
        self.store.state.devices[user] = devices

    def create(self, user: str = "alice") -> str:
        request = CreateRequest(user_id=user, prompt="NATO alphabet", client_ip="203.0.113.1")
        return self.jobs.create(request).stored.job_id

    def worker(self, model: ScriptedModel, **overrides: Any) -> WorkerService:
        return WorkerService(
            uow=self.store,
            reader=self.store,
            model=model,
            settings=settings(**overrides),
            clock=self.clock,
            notifications=self.sender,
        )

    def sent_tokens(self) -> list[list[str]]:
        return [sorted(tokens.values()) for _, tokens in self.notifier.sent]


@pytest.fixture
def world(store: MemoryStore, clock: FakeClock) -> World:
    return World(store, clock)


def test_a_completed_job_is_sent_once_to_every_device_and_leaves_no_outbox(world: World) -> None:
    world.devices(*TOKENS)
    job_id = world.create()
    assert world.store.state.jobs[job_id].notify is True
    model = ScriptedModel(pieces=answer_stream(3))
    assert world.worker(model).process(job_id).outcome is DeliveryOutcome.COMPLETED
    # Duplicate deliveries of the finished job notify nothing more.
    assert world.worker(model).process(job_id).outcome is DeliveryOutcome.TERMINAL
    assert world.sent_tokens() == [sorted(TOKENS)]
    notification, _ = world.notifier.sent[0]
    assert notification.title == "3 questions on NATO alphabet are ready"
    assert (notification.job_id, notification.status) == (job_id, JobStatus.COMPLETED)
    assert world.store.state.outbox == {}
    # The sweep, much later, finds nothing left to send.
    world.clock.advance(3600)
    world.sweep.recovery()
    assert len(world.notifier.sent) == 1


def test_no_device_or_notifications_off_at_creation_means_no_outbox_at_all(world: World) -> None:
    job_id = world.create()
    world.devices(TOKENS[0], user="bob")
    world.store.state.devices["bob"] = switched(world.store.state.devices["bob"], enabled=False)
    off = world.create(user="bob")
    for job in (job_id, off):
        assert world.store.state.jobs[job].notify is None
        world.worker(ScriptedModel(pieces=answer_stream(2))).process(job)
    assert world.store.state.outbox == {}
    assert world.notifier.sent == []


def test_switching_off_after_creation_sends_nothing_and_clears_the_outbox(world: World) -> None:
    world.devices(TOKENS[0])
    job_id = world.create()
    world.store.state.devices["alice"] = switched(world.store.state.devices["alice"], enabled=False)
    world.worker(ScriptedModel(pieces=answer_stream(2))).process(job_id)
    assert world.notifier.sent == []
    assert world.store.state.outbox == {}


def test_only_the_final_failure_notifies_not_the_attempts_before_it(world: World) -> None:
    world.devices(TOKENS[0])
    job_id = world.create()
    failing = ScriptedModel(stream_end=ModelError(FailureCode.NETWORK))
    outcomes = [world.worker(failing, max_attempts=2).process(job_id).outcome for _ in range(2)]
    assert outcomes == [DeliveryOutcome.RETRYING, DeliveryOutcome.FAILED]
    assert len(world.notifier.sent) == 1
    assert world.notifier.sent[0][0].status is JobStatus.FAILED


def test_a_cancel_with_questions_kept_is_sent_by_the_api_one_without_is_not(world: World) -> None:
    world.devices(TOKENS[0])
    pending = world.create()
    world.jobs.cancel("alice", pending)
    assert world.notifier.sent == []
    job_id = world.create()
    pieces = answer_stream(10, piece_size=30)

    def cancel_half_way(index: int) -> None:
        if index == len(pieces) // 2:
            # The writer thread commits on its own schedule: cancel once it has saved one.
            wait_until(lambda: bool(world.store.state.questions))
            world.jobs.cancel("alice", job_id)

    model = ScriptedModel(pieces=pieces, on_piece=cancel_half_way)
    assert world.worker(model).process(job_id).outcome is DeliveryOutcome.CANCELLED
    assert len(world.notifier.sent) == 1
    notification, _ = world.notifier.sent[0]
    assert notification.status is JobStatus.CANCELLED
    assert notification.title.endswith(" kept")


def test_a_send_that_dies_is_taken_over_by_the_sweep_after_the_grace(world: World) -> None:
    world.devices(TOKENS[0])
    job_id = world.create()
    world.notifier.fail_with = RuntimeError("the instance died mid send")
    result = world.worker(ScriptedModel(pieces=answer_stream(2))).process(job_id)
    assert result.outcome is DeliveryOutcome.COMPLETED  # the job never fails for it
    assert len(world.store.state.outbox) == 1
    world.notifier.fail_with = None
    world.clock.advance(SENDER_GRACE.total_seconds() - 1)
    world.sweep.recovery()
    assert world.notifier.sent == []  # still the worker's
    world.clock.advance(2)
    report = world.sweep.recovery()
    assert world.sent_tokens() == [[TOKENS[0]]]
    assert report.notifications == {"done": 1}
    assert world.store.state.outbox == {}


def test_an_unregistered_device_is_pruned_and_the_others_still_get_it(world: World) -> None:
    world.devices(*TOKENS)
    world.notifier.answers[TOKENS[0]] = TokenResult.UNREGISTERED
    job_id = world.create()
    world.worker(ScriptedModel(pieces=answer_stream(2))).process(job_id)
    assert world.sent_tokens() == [sorted(TOKENS)]
    remaining = [d.token for d in world.store.state.devices["alice"].devices]
    assert remaining == [TOKENS[1]]
    assert world.store.state.outbox == {}


def test_a_failed_device_is_retried_alone_by_the_sweep_then_given_up(world: World) -> None:
    world.devices(*TOKENS)
    world.notifier.answers[TOKENS[1]] = TokenResult.FAILED
    job_id = world.create()
    world.worker(ScriptedModel(pieces=answer_stream(2))).process(job_id)
    (pending,) = world.store.state.outbox.values()
    assert pending.sends == 0
    assert pending.last_error == "fcm unavailable"
    for _ in range(MAX_SENDS):
        world.clock.advance(3600)
        world.sweep.recovery()
    # The first send reached both; every resend went to the failing device only, MAX_SENDS
    # sends in all, then the notification was dropped.
    assert world.sent_tokens() == [sorted(TOKENS)] + [[TOKENS[1]]] * (MAX_SENDS - 1)
    assert world.store.state.outbox == {}


def test_a_held_notification_is_not_sent_by_a_second_sweep(world: World) -> None:
    world.devices(TOKENS[0])
    world.notifier.answers[TOKENS[0]] = TokenResult.FAILED
    job_id = world.create()
    world.worker(ScriptedModel(pieces=answer_stream(2))).process(job_id)
    world.clock.advance(3600)
    (due,) = world.store.due_notifications(world.clock.now)
    claim = world.sender._claim(due)  # the first sweep holds it, and has not sent yet
    assert world.store.run(claim) is not None
    assert world.sender.send_due([due]) == {}
    assert len(world.notifier.sent) == 1  # the worker's only
