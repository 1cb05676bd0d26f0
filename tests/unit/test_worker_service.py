"""WorkerService on the in-memory ports: every way a delivery can go, in milliseconds."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from qgen.config import Settings
from qgen.domain.failures import FailureCode, ModelError, retry_delay
from qgen.domain.jobs import JobPhase, JobStatus, Usage, question_id
from qgen.services.jobs import CreateRequest, JobService
from qgen.services.worker import DeliveryOutcome, WorkerService

from tests.support.fakes import (
    FakeClock,
    InMemoryTaskQueue,
    MemoryStore,
    ScriptedModel,
    wait_until,
)
from tests.support.questions import answer_stream, envelope_pieces, item


def settings(**overrides: Any) -> Settings:
    # interval 0: every finished question is committed as soon as the writer sees it.
    return Settings(project_id="t", progress_write_interval_seconds=0, **overrides)


def worker(store: MemoryStore, clock: FakeClock, model: ScriptedModel, **kw: Any) -> WorkerService:
    return WorkerService(uow=store, reader=store, model=model, settings=settings(**kw), clock=clock)


def new_job(store: MemoryStore, clock: FakeClock, user: str = "alice") -> str:
    service = JobService(
        uow=store, reader=store, queue=InMemoryTaskQueue(), settings=settings(), clock=clock
    )
    request = CreateRequest(user_id=user, prompt="NATO alphabet", client_ip="203.0.113.1")
    return service.create(request).stored.job_id


def test_a_delivery_plans_streams_saves_every_question_and_completes(
    store: MemoryStore, clock: FakeClock
) -> None:
    job_id = new_job(store, clock)
    model = ScriptedModel(pieces=answer_stream(3))
    result = worker(store, clock, model).process(job_id)
    assert result.outcome is DeliveryOutcome.COMPLETED
    assert not result.retry
    job = store.state.jobs[job_id]
    assert (job.status, job.phase, job.topic, job.estimated_total) == (
        JobStatus.COMPLETED,
        JobPhase.FINALIZING,
        "NATO alphabet",
        3,
    )
    assert job.question_ids == [question_id(job_id, i) for i in range(3)]
    assert (job.questions_saved, job.questions_generated, job.questions_rejected) == (3, 3, 0)
    assert job.usage == Usage(prompt_tokens=10, output_tokens=20)  # the stream's last report
    (request,) = model.requests
    assert request.plan is None
    assert request.max_count == 40
    assert job.lease_token is None
    assert job.model == "scripted-model"
    saved = [store.state.questions[qid] for qid in job.question_ids]
    assert [q.question for q in saved] == [f"What is letter number {n}?" for n in range(3)]
    assert all(q.generation_job_id == job_id and q.user_id == "alice" for q in saved)
    assert all(q.due == clock.now and q.reps == 0 for q in saved)
    assert store.state.counters["alice"] == 0


def test_the_plan_is_clamped_to_the_configured_range(store: MemoryStore, clock: FakeClock) -> None:
    job_id = new_job(store, clock)
    model = ScriptedModel(pieces=answer_stream(2, planned=500))
    worker(store, clock, model, max_questions_per_job=2).process(job_id)
    assert store.state.jobs[job_id].estimated_total == 2
    assert model.requests[-1].max_count == 2


@pytest.mark.parametrize(("planned", "streamed", "cap"), [(5, 12, 5), (40, 45, 3), (2, 2, 40)])
def test_a_model_that_streams_past_the_plan_is_cut_at_the_cap_and_no_longer_read(
    store: MemoryStore, clock: FakeClock, planned: int, streamed: int, cap: int
) -> None:
    job_id = new_job(store, clock)
    pieces = answer_stream(streamed, planned=planned)
    model = ScriptedModel(pieces=pieces)
    result = worker(store, clock, model, max_questions_per_job=cap).process(job_id)
    assert result.outcome is DeliveryOutcome.COMPLETED
    total = min(planned, cap, streamed)
    job = store.state.jobs[job_id]
    assert (job.estimated_total, job.questions_saved, len(store.state.questions)) == (
        min(planned, cap),
        total,
        total,
    )
    assert job.questions_saved <= (job.estimated_total or 0), "progress never passes 100 %"
    if streamed > total:
        assert model.pieces_read < len(pieces), "the stream is closed once the cap is reached"


def test_a_header_without_a_count_or_topic_gets_the_maximum_and_the_learners_words(
    store: MemoryStore, clock: FakeClock
) -> None:
    job_id = new_job(store, clock)
    text = json.dumps({"questions": [item(n) for n in range(9)]})
    worker(store, clock, ScriptedModel(pieces=[text]), max_questions_per_job=7).process(job_id)
    job = store.state.jobs[job_id]
    assert (job.topic, job.estimated_total, job.questions_saved) == ("NATO alphabet", 7, 7)


def test_a_model_that_stops_short_of_its_plan_delivers_the_job(
    store: MemoryStore, clock: FakeClock
) -> None:
    # Asked for 5, it streamed 3 valid questions and stopped: completed, the plan lowered to
    # what was saved (a completed job has every question it planned).
    job_id = new_job(store, clock)
    model = ScriptedModel(pieces=answer_stream(3, planned=5))
    assert worker(store, clock, model).process(job_id).outcome is DeliveryOutcome.COMPLETED
    job = store.state.jobs[job_id]
    assert (job.status, job.estimated_total, job.questions_saved) == (JobStatus.COMPLETED, 3, 3)


def test_a_stream_short_of_its_plan_after_invalid_items_is_filled_in_by_the_next_attempt(
    store: MemoryStore, clock: FakeClock
) -> None:
    job_id = new_job(store, clock)
    broken = item(1) | {"options": ["only", "three", "options"]}
    first = ScriptedModel(pieces=envelope_pieces([item(0), broken, item(2)], count=3))
    assert worker(store, clock, first).process(job_id).outcome is DeliveryOutcome.RETRYING
    job = store.state.jobs[job_id]
    assert (job.status, job.questions_saved, job.last_error_code) == (
        JobStatus.PENDING,
        2,
        FailureCode.SCHEMA_VALIDATION.value,
    )
    second = ScriptedModel(pieces=envelope_pieces([item(3)], count=3))
    assert worker(store, clock, second).process(job_id).outcome is DeliveryOutcome.COMPLETED
    assert second.requests[0].remaining == 1, "the next attempt asks for the rest"
    job = store.state.jobs[job_id]
    assert (job.status, job.estimated_total, job.questions_saved) == (JobStatus.COMPLETED, 3, 3)


def test_on_the_last_attempt_a_short_stream_completes_with_what_it_delivered(
    store: MemoryStore, clock: FakeClock
) -> None:
    job_id = new_job(store, clock)
    broken = item(1) | {"options": ["only", "three", "options"]}
    model = ScriptedModel(pieces=envelope_pieces([item(0), broken, item(2)], count=3))
    service = worker(store, clock, model, max_attempts=1)
    assert service.process(job_id).outcome is DeliveryOutcome.COMPLETED
    job = store.state.jobs[job_id]
    assert (job.estimated_total, job.questions_saved, job.questions_rejected) == (2, 2, 1)


@pytest.mark.parametrize("status", [JobStatus.COMPLETED, JobStatus.CANCELLED, JobStatus.FAILED])
def test_terminal_and_missing_jobs_are_acknowledged_without_work(
    store: MemoryStore, clock: FakeClock, status: JobStatus
) -> None:
    job_id = new_job(store, clock)
    store.state.jobs[job_id] = store.state.jobs[job_id].changed(status=status)
    model = ScriptedModel()
    assert worker(store, clock, model).process(job_id).outcome is DeliveryOutcome.TERMINAL
    assert worker(store, clock, model).process("nope").outcome is DeliveryOutcome.MISSING
    assert model.requests == []


def test_a_duplicate_delivery_while_the_lease_is_live_does_nothing(
    store: MemoryStore, clock: FakeClock
) -> None:
    job_id = new_job(store, clock)
    first = worker(store, clock, ScriptedModel(stream_end=ModelError(FailureCode.NETWORK)))
    store.state.jobs[job_id] = store.state.jobs[job_id].changed(
        status=JobStatus.PROCESSING,
        lease_token="other",
        lease_expires_at=clock.now.replace(year=2030),
    )
    assert first.process(job_id).outcome is DeliveryOutcome.DUPLICATE


def test_cancel_mid_stream_stops_the_attempt_and_writes_nothing_after(
    store: MemoryStore, clock: FakeClock
) -> None:
    job_id = new_job(store, clock)
    pieces = answer_stream(10, piece_size=30)

    def cancel_half_way(index: int) -> None:
        if index == len(pieces) // 2:
            # The writer thread commits on its own schedule: cancel once it has saved one.
            wait_until(lambda: bool(store.state.questions))
            job = store.state.jobs[job_id]
            store.state.jobs[job_id] = job.changed(status=JobStatus.CANCELLED)

    model = ScriptedModel(pieces=pieces, on_piece=cancel_half_way)
    result = worker(store, clock, model).process(job_id)
    assert result.outcome is DeliveryOutcome.CANCELLED
    job = store.state.jobs[job_id]
    assert job.status is JobStatus.CANCELLED
    assert 0 < job.questions_saved < 10
    assert len(store.state.questions) == job.questions_saved, "nothing written after the cancel"
    assert job.question_ids == sorted(store.state.questions), "the cancel counted the documents"


def test_a_lost_lease_stops_the_attempt(store: MemoryStore, clock: FakeClock) -> None:
    job_id = new_job(store, clock)

    def take_over(index: int) -> None:
        if index == 0:
            job = store.state.jobs[job_id]
            store.state.jobs[job_id] = job.changed(lease_token="another-delivery")

    model = ScriptedModel(pieces=answer_stream(3), on_piece=take_over)
    assert worker(store, clock, model).process(job_id).outcome is DeliveryOutcome.LEASE_LOST
    assert store.state.jobs[job_id].status is JobStatus.PROCESSING  # the other delivery's


def test_a_transient_model_failure_hands_the_job_back_and_keeps_what_was_saved(
    store: MemoryStore, clock: FakeClock
) -> None:
    job_id = new_job(store, clock)
    model = ScriptedModel(
        pieces=answer_stream(4)[:-3], stream_end=ModelError(FailureCode.TRUNCATED)
    )
    result = worker(store, clock, model).process(job_id)
    assert (result.outcome, result.error_code, result.retry) == (
        DeliveryOutcome.RETRYING,
        FailureCode.TRUNCATED,
        True,
    )
    job = store.state.jobs[job_id]
    assert (job.status, job.last_error_code, job.error_code) == (
        JobStatus.PENDING,
        "TRUNCATED",
        None,
    )
    saved = job.questions_saved
    assert 0 < saved < 4
    assert store.state.counters["alice"] == 1, "a job waiting for redelivery holds its slot"
    # The redelivery resumes: no new plan, only the rest, told what exists.
    assert (job.topic, job.estimated_total) == ("NATO alphabet", 4), "the plan is kept"
    # The redelivery resumes under the same plan: only the rest, told what exists.
    resumed = ScriptedModel(pieces=answer_stream(4 - saved, start=saved, planned=99))
    assert worker(store, clock, resumed).process(job_id).outcome is DeliveryOutcome.COMPLETED
    (request,) = resumed.requests
    assert request.plan is not None
    assert (request.plan.total, request.remaining) == (4, 4 - saved)
    assert len(request.existing) == saved
    job = store.state.jobs[job_id]
    assert job.question_ids == [question_id(job_id, i) for i in range(4)]
    assert job.attempts == 2


@pytest.mark.parametrize(
    ("code", "attempts_before", "outcome"),
    [
        (FailureCode.API_KEY, 0, DeliveryOutcome.FAILED),
        (FailureCode.CONTENT_BLOCKED, 0, DeliveryOutcome.FAILED),
        (FailureCode.RATE_LIMIT, 4, DeliveryOutcome.FAILED),  # the fifth of five attempts
        (FailureCode.RATE_LIMIT, 0, DeliveryOutcome.RETRYING),
    ],
)
def test_finality_of_a_failure(
    store: MemoryStore,
    clock: FakeClock,
    code: FailureCode,
    attempts_before: int,
    outcome: DeliveryOutcome,
) -> None:
    job_id = new_job(store, clock)
    store.state.jobs[job_id] = store.state.jobs[job_id].changed(attempts=attempts_before)
    result = worker(store, clock, ScriptedModel(stream_end=ModelError(code))).process(job_id)
    assert result.outcome is outcome
    job = store.state.jobs[job_id]
    if outcome is DeliveryOutcome.FAILED:
        assert (job.status, job.error_code) == (JobStatus.FAILED, code.value)
        assert store.state.counters["alice"] == 0
    else:
        assert job.status is JobStatus.PENDING


def test_invalid_and_repeated_items_are_counted_and_never_saved(
    store: MemoryStore, clock: FakeClock
) -> None:
    job_id = new_job(store, clock)
    items: list[object] = [item(0), {"question": "broken"}, item(0), item(1)]
    model = ScriptedModel(pieces=envelope_pieces(items, count=2))
    assert worker(store, clock, model).process(job_id).outcome is DeliveryOutcome.COMPLETED
    job = store.state.jobs[job_id]
    assert (job.questions_saved, job.questions_generated, job.questions_rejected) == (2, 4, 2)


@pytest.mark.parametrize(
    "pieces",
    [
        [json.dumps({"topic": "t", "count": 1, "questions": [{"question": "no"}]})],
        ["not json at all"],
        [json.dumps([item(0)])],  # the bare array of the old protocol is not the answer asked for
        [],
    ],
)
def test_a_stream_without_a_valid_question_is_a_schema_failure(
    store: MemoryStore, clock: FakeClock, pieces: list[str]
) -> None:
    job_id = new_job(store, clock)
    result = worker(store, clock, ScriptedModel(pieces=pieces)).process(job_id)
    assert (result.outcome, result.error_code) == (
        DeliveryOutcome.RETRYING,
        FailureCode.SCHEMA_VALIDATION,
    )


@pytest.mark.parametrize(
    ("asked", "waited"), [(None, 10.0), (7.0, 10.0), (30.0, 30.0), (86_400.0, 600.0)]
)
def test_a_retryable_failure_queues_the_next_attempt_as_a_new_task_after_a_wait(
    store: MemoryStore,
    clock: FakeClock,
    queue: InMemoryTaskQueue,
    asked: float | None,
    waited: float,
) -> None:
    job_id = new_job(store, clock)
    busy = ModelError(FailureCode.RATE_LIMIT, "HTTP 429", retry_after_seconds=asked)
    service = worker(store, clock, ScriptedModel(stream_end=busy))
    service.queue = queue
    result = service.process(job_id)
    assert result.outcome is DeliveryOutcome.RESCHEDULED
    assert not result.retry, "answered 2xx: Cloud Tasks does not back the whole queue off"
    job = store.state.jobs[job_id]
    assert (job.status, job.run, job.last_error_code) == (JobStatus.PENDING, 1, "RATE_LIMIT")
    assert job.enqueued_at == clock.now + timedelta(seconds=waited), "due when the task runs"
    assert queue.tasks == {f"{job_id}-run1": job_id}
    assert queue.delays[f"{job_id}-run1"] == waited


def test_the_wait_doubles_with_each_attempt() -> None:
    waits = [retry_delay(None, attempt=n, base=10, cap=600) for n in range(1, 8)]
    assert waits == [10, 20, 40, 80, 160, 320, 600]
    assert retry_delay(45, attempt=1, base=10, cap=600) == 45


def test_without_a_queue_or_when_it_is_down_the_retry_is_cloud_tasks_redelivery(
    store: MemoryStore, clock: FakeClock, queue: InMemoryTaskQueue
) -> None:
    job_id = new_job(store, clock)
    busy = ModelError(FailureCode.RATE_LIMIT, "HTTP 429", retry_after_seconds=3)
    assert worker(store, clock, ScriptedModel(stream_end=busy)).process(job_id).outcome is (
        DeliveryOutcome.RETRYING
    )
    assert store.state.jobs[job_id].run == 0, "the same task is redelivered"
    queue.fail_with = "Unavailable"
    service = worker(store, clock, ScriptedModel(stream_end=busy))
    service.queue = queue
    assert service.process(job_id).outcome is DeliveryOutcome.RETRYING, "queue down: 503"
