from __future__ import annotations

from datetime import UTC, datetime

import pytest
from qgen.adapters.firestore.documents import document
from qgen.domain.jobs import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    IllegalTransitionError,
    Job,
    JobStatus,
    is_cancellable,
    slot_delta,
    task_id_for,
)
from qgen.domain.transitions import admit

S = JobStatus


@pytest.mark.parametrize(
    ("current", "target", "delta"),
    [
        (S.PENDING, S.PROCESSING, 0),
        (S.PENDING, S.CANCELLED, -1),
        (S.PENDING, S.FAILED, -1),
        (S.PROCESSING, S.PENDING, 0),
        (S.PROCESSING, S.COMPLETED, -1),
        (S.PROCESSING, S.FAILED, -1),
        (S.PROCESSING, S.CANCELLED, -1),
        (S.FAILED, S.PENDING, +1),
    ],
)
def test_legal_moves_change_the_active_count_exactly_when_activity_changes(
    current: JobStatus, target: JobStatus, delta: int
) -> None:
    assert slot_delta(current, target) == delta


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.COMPLETED, S.PENDING),
        (S.COMPLETED, S.CANCELLED),
        (S.CANCELLED, S.PROCESSING),
        (S.CANCELLED, S.COMPLETED),
        (S.FAILED, S.COMPLETED),
        (S.PENDING, S.COMPLETED),
        (S.PENDING, S.PENDING),
    ],
)
def test_illegal_moves_are_refused(current: JobStatus, target: JobStatus) -> None:
    with pytest.raises(IllegalTransitionError):
        slot_delta(current, target)


def test_every_status_is_either_active_or_terminal() -> None:
    assert set(JobStatus) == ACTIVE_STATUSES | TERMINAL_STATUSES
    assert not ACTIVE_STATUSES & TERMINAL_STATUSES


def test_only_active_jobs_are_cancellable() -> None:
    assert {s for s in JobStatus if is_cancellable(s)} == ACTIVE_STATUSES


def test_a_cancelled_job_can_never_be_completed_or_revived() -> None:
    for target in JobStatus:
        with pytest.raises(IllegalTransitionError):
            slot_delta(S.CANCELLED, target)


def test_job_document_uses_the_camel_case_contract_and_omits_unset_fields() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    job = admit(user_id="u1", prompt="NATO alphabet", now=now, ip_address="::1")
    doc = document(job)
    assert doc == {
        "userId": "u1",
        "prompt": "NATO alphabet",
        "status": "pending",
        "questionsGenerated": 0,
        "questionsSaved": 0,
        "questionsRejected": 0,
        "questionIds": [],
        "createdAt": now,
        "enqueuedAt": now,
        "ipAddress": "::1",
        "attempts": 0,
        "run": 0,
        "reservedTokens": 0,
        "settledTokens": 0,
    }
    assert Job.model_validate(doc) == job


def test_task_ids_are_deterministic_per_run_and_differ_between_runs() -> None:
    assert task_id_for("abc", 0) == task_id_for("abc", 0)
    assert task_id_for("abc", 0) != task_id_for("abc", 1)


def test_question_bounds_run_from_the_surest_count_to_the_plan_or_end_there_when_exact() -> None:
    now = datetime(2026, 11, 30, tzinfo=UTC)
    job = admit(user_id="u1", prompt="NATO alphabet", now=now, ip_address="::1")
    job = job.changed(questions_saved=3, question_ids=["j_0", "j_1", "j_2"])
    assert job.question_bounds(50) == (3, 50)  # no plan yet: up to the cap
    planned = job.changed(estimated_total=40, topic="T")
    assert planned.question_bounds(50) == (3, 40)
    # The running attempt saw more committed than the job's copy shows (it lags).
    assert planned.question_bounds(50, committed=12) == (12, 40)
    assert planned.question_bounds(50, committed=1) == (3, 40)  # never below the job's count
    # A clean attempt's whole account: nothing lies beyond it.
    assert planned.question_bounds(50, committed=12, exact=True) == (12, 12)
