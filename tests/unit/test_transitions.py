"""Each change of a job's life, as a pure function: what it sets, clears and refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from qgen.domain import transitions as t
from qgen.domain.errors import DomainError, ErrorCode
from qgen.domain.failures import FailureCode, failure_for
from qgen.domain.jobs import Job, JobPhase, JobStatus, Lease, Usage, question_id, slot_delta
from qgen.domain.prompts import Plan
from qgen.domain.recovery import recover_lost_worker

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def pending() -> Job:
    return t.admit(user_id="alice", prompt="NATO alphabet", now=NOW, ip_address="203.0.113.1")


def claimed(job: Job | None = None, *, token: str = "tok") -> tuple[Job, Lease]:
    decision = t.claim("j1", job or pending(), now=NOW, lease_seconds=120, token=token)
    assert decision.job is not None
    assert decision.lease is not None
    return decision.job, decision.lease


def test_admit_makes_a_pending_job_queued_now() -> None:
    job = pending()
    assert (job.status, job.enqueued_at, job.attempts, job.run) == (JobStatus.PENDING, NOW, 0, 0)
    assert job.needs_plan
    assert job.is_active
    assert not job.is_terminal


def test_owned_hides_other_learners_jobs_as_missing() -> None:
    assert t.owned(pending(), "alice").user_id == "alice"
    for job in (None, pending()):
        with pytest.raises(DomainError) as exc:
            t.owned(job, "bob")
        assert exc.value.code is ErrorCode.NOT_FOUND


def test_claim_takes_a_lease_and_counts_the_attempt() -> None:
    job, lease = claimed()
    assert job.status is JobStatus.PROCESSING
    assert (job.attempts, lease.attempt, lease.token, job.lease_token) == (1, 1, "tok", "tok")
    assert job.lease_expires_at == NOW + timedelta(seconds=120)
    assert job.started_at == NOW
    assert job.phase is JobPhase.CLARIFYING


def test_claim_of_a_planned_job_goes_straight_to_generating_and_keeps_started_at() -> None:
    earlier = pending().changed(topic="NATO", estimated_total=5, started_at=NOW - timedelta(1))
    job, _ = claimed(earlier)
    assert job.phase is JobPhase.GENERATING
    assert job.started_at == NOW - timedelta(1)


@pytest.mark.parametrize(
    ("job", "kind"),
    [
        (None, t.ClaimKind.MISSING),
        (pending().changed(status=JobStatus.COMPLETED), t.ClaimKind.TERMINAL),
        (pending().changed(status=JobStatus.CANCELLED), t.ClaimKind.TERMINAL),
        (pending().changed(status=JobStatus.FAILED), t.ClaimKind.TERMINAL),
        (
            pending().changed(status=JobStatus.PROCESSING, lease_expires_at=NOW + timedelta(1)),
            t.ClaimKind.DUPLICATE,
        ),
    ],
)
def test_claim_refuses_what_it_must_not_run(job: Job | None, kind: t.ClaimKind) -> None:
    decision = t.claim("j1", job, now=NOW, lease_seconds=120, token="tok")
    assert decision.kind is kind
    assert decision.lease is None


def test_a_processing_job_whose_lease_expired_can_be_claimed_again() -> None:
    job, _ = claimed()
    later = NOW + timedelta(seconds=121)
    decision = t.claim("j1", job, now=later, lease_seconds=120, token="new")
    assert decision.kind is t.ClaimKind.CLAIMED
    assert decision.job is not None
    assert decision.job.attempts == 2


def test_held_fences_every_write_by_the_lease() -> None:
    job, lease = claimed()
    assert t.held(job, lease) is job
    cases = {
        t.StopReason.CANCELLED: job.changed(status=JobStatus.CANCELLED),
        t.StopReason.LEASE_LOST: job.changed(lease_token="someone-else"),
    }
    for reason, changed in cases.items():
        with pytest.raises(t.AttemptStoppedError) as exc:
            t.held(changed, lease)
        assert exc.value.reason is reason
    with pytest.raises(t.AttemptStoppedError):
        t.held(None, lease)


def test_plan_progress_and_complete() -> None:
    job, _ = claimed()
    assert t.plan_of(job) is None
    job = t.plan(job, Plan("NATO", 3))
    assert (job.topic, job.estimated_total, job.phase) == ("NATO", 3, JobPhase.GENERATING)
    assert t.plan_of(job) == Plan("NATO", 3)
    ids = [question_id("j1", 0), question_id("j1", 1)]
    job = t.progress(job, question_ids=ids, generated=3, rejected=1)
    assert (job.questions_saved, job.questions_generated, job.questions_rejected) == (2, 3, 1)
    assert job.question_ids == ids
    done = t.complete(
        job.changed(usage=Usage(prompt_tokens=1, output_tokens=2)),
        question_ids=[*ids, question_id("j1", 2)],
        now=NOW + timedelta(seconds=2),
        usage=Usage(prompt_tokens=10, output_tokens=20),
        model="m",
    )
    assert done.status is JobStatus.COMPLETED
    assert done.model == "m"
    assert done.phase is JobPhase.FINALIZING
    assert done.questions_saved == 3, "completion counts the question documents"
    assert done.duration_ms == 2000
    assert done.usage == Usage(prompt_tokens=11, output_tokens=22)
    assert done.lease_token is None
    assert done.lease_expires_at is None


def test_an_ending_counts_the_documents_it_is_given() -> None:
    job, _ = claimed()
    ids = [question_id("j1", 0)]
    failed = t.fail_attempt(
        job, failure_for(FailureCode.NETWORK), now=NOW, max_attempts=3, question_ids=ids
    )
    assert (failed.questions_saved, failed.question_ids) == (1, ids)
    cancelled = t.cancel(job, now=NOW, question_ids=ids)
    assert (cancelled.questions_saved, cancelled.question_ids) == (1, ids)
    assert t.cancel(job, now=NOW).questions_saved == 0


def test_a_retryable_failure_with_attempts_left_goes_back_to_pending() -> None:
    job, _ = claimed()
    failure = failure_for(FailureCode.RATE_LIMIT)
    after = t.fail_attempt(job, failure, now=NOW, max_attempts=3)
    assert after.status is JobStatus.PENDING
    assert (after.last_error_code, after.error_code, after.run) == ("RATE_LIMIT", None, 0)
    assert after.lease_token is None
    assert after.enqueued_at == NOW
    assert slot_delta(job.status, after.status) == 0


@pytest.mark.parametrize(
    ("code", "attempts"), [(FailureCode.RATE_LIMIT, 3), (FailureCode.API_KEY, 1)]
)
def test_a_failure_is_final_on_the_last_attempt_or_when_retrying_cannot_help(
    code: FailureCode, attempts: int
) -> None:
    job, _ = claimed(pending().changed(attempts=attempts - 1))
    after = t.fail_attempt(job, failure_for(code), now=NOW, max_attempts=3)
    assert after.status is JobStatus.FAILED
    assert (after.error_code, after.completed_at) == (code.value, NOW)
    assert after.retryable is failure_for(code).retryable
    assert slot_delta(job.status, after.status) == -1


def test_recovery_requeues_a_lost_worker_as_a_new_run_or_fails_it_on_the_last_attempt() -> None:
    job, _ = claimed()
    assert recover_lost_worker(job, now=NOW, max_attempts=3) is None  # lease still live
    later = NOW + timedelta(seconds=121)
    requeued = recover_lost_worker(job, now=later, max_attempts=3)
    assert requeued is not None
    assert requeued.status is JobStatus.PENDING
    assert (requeued.run, requeued.last_error_code) == (1, "WORKER_LOST")
    failed = recover_lost_worker(job, now=later, max_attempts=1)
    assert failed is not None
    assert failed.status is JobStatus.FAILED
    assert (failed.error_code, failed.retryable) == ("WORKER_LOST", True)
    assert recover_lost_worker(pending(), now=later, max_attempts=3) is None


def test_cancel_from_active_statuses_only() -> None:
    for job in (pending(), claimed()[0]):
        cancelled = t.cancel(job, now=NOW)
        assert (cancelled.status, cancelled.completed_at) == (JobStatus.CANCELLED, NOW)
    with pytest.raises(DomainError) as exc:
        t.cancel(pending().changed(status=JobStatus.COMPLETED), now=NOW)
    assert exc.value.code is ErrorCode.NOT_CANCELLABLE


def test_retry_only_a_retryable_failure_and_clear_its_error() -> None:
    failed = pending().changed(
        status=JobStatus.FAILED,
        retryable=True,
        error_code="RATE_LIMIT",
        last_error_code="RATE_LIMIT",
        error_message="x",
        completed_at=NOW,
        attempts=5,
    )
    retried = t.retry(failed, now=NOW)
    assert (retried.status, retried.run, retried.attempts) == (JobStatus.PENDING, 1, 0)
    assert retried.error_code is retried.error_message is retried.completed_at is None
    assert retried.retryable is retried.last_error_code is None
    for job in (failed.changed(retryable=False), pending()):
        with pytest.raises(DomainError) as exc:
            t.retry(job, now=NOW)
        assert exc.value.code is ErrorCode.NOT_RETRYABLE


def test_fail_unqueued_touches_only_a_pending_job() -> None:
    failed = t.fail_unqueued(pending(), code=ErrorCode.QUEUE_UNAVAILABLE, message="m", now=NOW)
    assert failed is not None
    assert failed.status is JobStatus.FAILED
    assert (failed.error_code, failed.retryable) == ("QUEUE_UNAVAILABLE", True)
    job, _ = claimed()
    assert t.fail_unqueued(job, code=ErrorCode.QUEUE_UNAVAILABLE, message="m", now=NOW) is None
