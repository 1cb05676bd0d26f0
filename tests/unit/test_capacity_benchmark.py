"""The capacity benchmark's pure pieces: the sweep, its rounds, and where it saturates."""

from __future__ import annotations

import math

from qgen.domain.questions import normalise_question_text

from benchmarks.capacity_sweep.plan import (
    JobResult,
    rounds_for,
    saturation,
    sweep_done,
    sweep_sizes,
)
from benchmarks.capacity_sweep.rounds import JOB_TAG, prompt_of, streams_by_job


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
