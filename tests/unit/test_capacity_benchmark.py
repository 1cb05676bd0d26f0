"""The capacity benchmark's pure pieces: the sweep, its rounds, where it saturates, and how
the light listener reads the Listen stream."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from google.cloud.firestore_v1.types.document import Document, Value
from google.cloud.firestore_v1.types.firestore import ListenResponse, TargetChange
from google.cloud.firestore_v1.types.write import DocumentChange
from qgen.adapters.firestore.names import QUESTIONS
from qgen.domain.questions import normalise_question_text

from benchmarks.capacity_sweep.light_listener import (
    CURRENT,
    RAW_RESPONSE,
    TARGET_ID,
    QuestionStream,
    listen_request,
    question_of,
    target_change,
)
from benchmarks.capacity_sweep.plan import (
    JobResult,
    rounds_for,
    saturation,
    sweep_done,
    sweep_sizes,
)
from benchmarks.capacity_sweep.rounds import JOB_TAG, prompt_of, recorded_streams, streams_by_job
from benchmarks.worker_streaming.model import RunError


def test_the_sweep_runs_its_steps_then_every_ten_and_ends_on_the_bound() -> None:
    assert list(sweep_sizes(40)) == [1, 2, 5, 10, 15, 20, 30, 40]
    assert list(sweep_sizes(25)) == [1, 2, 5, 10, 15, 20, 25]
    assert list(sweep_sizes(10)) == [1, 2, 5, 10]
    assert list(sweep_sizes(1)) == [1]


def test_small_k_runs_in_rounds_until_enough_jobs_were_measured() -> None:
    assert [rounds_for(k, 3) for k in (1, 2, 5)] == [3, 2, 1]


def test_saturation_is_the_first_k_whose_p95_doubles_the_first_steps() -> None:
    sat = saturation([(1, 100.0), (2, 120.0), (5, 199.0), (10, 200.0), (15, 500.0)])
    assert (sat.baseline_p95_ms, sat.last_below, sat.doubled_at) == (100.0, 5, 10)


def test_no_saturation_when_p95_never_doubles() -> None:
    sat = saturation([(1, 100.0), (2, 150.0)])
    assert (sat.last_below, sat.doubled_at) == (2, None)
    assert math.isnan(saturation([]).baseline_p95_ms)


def test_the_sweep_goes_on_to_the_goals_k_even_after_p95_doubled() -> None:
    assert not sweep_done([(1, 100.0), (2, 250.0)])
    assert sweep_done([(1, 100.0), (2, 250.0), (5, 260.0), (10, 300.0)])
    assert not sweep_done([(1, 100.0), (10, 150.0)])


def test_a_job_is_found_by_the_tag_of_its_learner_request() -> None:
    requests = [
        {"n": 1, "call": "stream", "learnerRequest": prompt_of(11), "receivedAt": 5.0},
        {"n": 2, "call": "stream", "learnerRequest": prompt_of(1), "receivedAt": 6.0},
        {"n": 3, "call": "clarify", "learnerRequest": prompt_of(2), "receivedAt": 7.0},
    ]
    events = [
        {"request": 2, "question": "What is  Alfa?", "sentAt": 6.5},
        {"request": 1, "question": "Bravo?", "sentAt": 5.5},
    ]
    streams = streams_by_job(requests, events)
    assert set(streams) == {1, 11}
    assert streams[1] == (6.0, {normalise_question_text("What is Alfa?"): 6.5})
    assert JOB_TAG.search(prompt_of(7))


def test_a_job_result_gives_wall_over_stream_and_its_percentiles() -> None:
    job = JobResult("j", "completed", 2, 10.0, 21.0, 10.2, 20.2, [0.04, 0.06])
    assert job.stream_s == 10.0
    assert math.isclose(job.ratio, 1.1)
    assert math.isclose(job.ms(50), 50.0)
    assert math.isnan(JobResult("j", "HTTP 503", 0, 1.0, 2.0, None, None).ratio)


def a_document_change(question: str | None, target_ids: tuple[int, ...] = (TARGET_ID,)) -> Any:
    """A ListenResponse as the emulator sends one, parsed as the light listener parses it."""
    fields = {"userId": Value(string_value="u1")}
    if question is not None:
        fields["question"] = Value(string_value=question)
    response = ListenResponse(
        document_change=DocumentChange(
            document=Document(
                name="projects/p/databases/(default)/documents/questions/q1", fields=fields
            ),
            target_ids=list(target_ids),
        )
    )
    return RAW_RESPONSE.FromString(ListenResponse.serialize(response))


def a_target_change(kind: int, *, read_time: bool = False, target_ids: tuple[int, ...] = ()) -> Any:
    change = TargetChange(target_change_type=kind, target_ids=list(target_ids))
    if read_time:
        change.read_time = datetime(2026, 11, 30, tzinfo=UTC)
    response = ListenResponse(target_change=change)
    return RAW_RESPONSE.FromString(ListenResponse.serialize(response))


def a_consistent_point() -> Any:
    """What the emulator sends after every commit's changes: NO_CHANGE, a read_time, no ids."""
    return a_target_change(TargetChange.TargetChangeType.NO_CHANGE, read_time=True)


def test_a_document_change_of_our_target_gives_its_question_text() -> None:
    assert question_of(a_document_change("What is Alfa?")) == "What is Alfa?"
    assert question_of(a_document_change("Bravo?", target_ids=(TARGET_ID + 1,))) is None
    assert question_of(a_document_change(None)) is None
    assert question_of(a_target_change(TargetChange.TargetChangeType.CURRENT)) is None


def test_a_target_change_is_told_by_its_type() -> None:
    assert target_change(a_target_change(TargetChange.TargetChangeType.CURRENT)) == CURRENT
    assert target_change(a_document_change("Alfa?")) is None


def test_a_question_is_seen_at_the_first_consistent_point_after_it_arrived() -> None:
    stream = QuestionStream()
    stream.take(
        a_target_change(TargetChange.TargetChangeType.CURRENT, target_ids=(TARGET_ID,)), 1.0
    )
    stream.take(a_consistent_point(), 2.0)
    stream.wait_ready(0)
    assert stream.seen == {}
    # A commit: the emulator resets the target and sends every document again, then CURRENT
    # (with a read_time, for our target only), then the stream's consistent point.
    stream.take(a_target_change(TargetChange.TargetChangeType.RESET, read_time=True), 10.0)
    stream.take(a_document_change("What is  Alfa?"), 10.1)
    stream.take(
        a_target_change(CURRENT, read_time=True, target_ids=(TARGET_ID,)), 10.2
    )  # not the whole stream: not yet
    assert not stream.wait_for(1, 0)
    stream.take(a_consistent_point(), 10.3)
    assert stream.seen == {normalise_question_text("What is Alfa?"): 10.3}
    # The next commit sends it again: its first consistent point stays.
    stream.take(a_document_change("What is  Alfa?"), 11.0)
    stream.take(a_document_change("Bravo?"), 11.1)
    stream.take(a_consistent_point(), 11.2)
    assert stream.seen == {
        normalise_question_text("What is Alfa?"): 10.3,
        normalise_question_text("Bravo?"): 11.2,
    }
    assert stream.wait_for(2, 0)


def test_a_resume_token_without_a_read_time_is_not_a_consistent_point() -> None:
    stream = QuestionStream()
    stream.take(a_document_change("Alfa?"), 1.0)
    stream.take(a_target_change(TargetChange.TargetChangeType.NO_CHANGE), 2.0)
    stream.take(
        a_target_change(
            TargetChange.TargetChangeType.NO_CHANGE, read_time=True, target_ids=(TARGET_ID,)
        ),
        3.0,
    )
    assert stream.seen == {}
    stream.take(a_consistent_point(), 4.0)
    assert stream.seen == {normalise_question_text("Alfa?"): 4.0}


def test_a_stream_is_ready_once_current() -> None:
    stream = QuestionStream()
    assert not stream.current.is_set()
    stream.take(a_target_change(TargetChange.TargetChangeType.CURRENT), 12.0)
    stream.wait_ready(0)


def test_a_removed_target_is_an_error_not_a_wait() -> None:
    stream = QuestionStream()
    stream.take(a_target_change(TargetChange.TargetChangeType.REMOVE), 1.0)
    with pytest.raises(RunError):
        stream.wait_ready(0)


def test_the_listen_request_adds_the_query_on_the_learners_questions() -> None:
    request = listen_request("projects/p/databases/(default)", "userId", "u1")
    target = request.add_target
    assert request.database == "projects/p/databases/(default)"
    assert target.target_id == TARGET_ID
    assert target.query.parent == "projects/p/databases/(default)/documents"
    assert target.query.structured_query.from_[0].collection_id == QUESTIONS
    where = target.query.structured_query.where.field_filter
    assert (where.field.field_path, where.value.string_value) == ("userId", "u1")


def test_a_round_waits_for_stream_records_the_model_server_writes_late() -> None:
    """A stream the worker closed at its count is recorded when the server notices the client
    gone, which can be after the delivery was answered (a K = 1 round once found none)."""
    record = {"call": "stream", "n": 7, "receivedAt": 1.0, "learnerRequest": prompt_of(0)}

    class LateAdmin:
        asked = 0

        def requests(self) -> list[dict[str, Any]]:
            self.asked += 1
            return [record] if self.asked >= 3 else []

        def events(self) -> list[dict[str, Any]]:
            return [{"request": 7, "question": "What is Alfa?", "sentAt": 2.0}]

    admin = LateAdmin()
    rig: Any = SimpleNamespace(env=SimpleNamespace(admin=admin))

    streams = recorded_streams(rig, 1)

    assert streams == {0: (1.0, {normalise_question_text("What is Alfa?"): 2.0})}
    assert admin.asked == 3
