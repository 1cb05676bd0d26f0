"""domain/notifications.py: which job ends notify, what they say, and the outbox's rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from qgen.domain import transitions
from qgen.domain.failures import Failure, FailureCode
from qgen.domain.jobs import Job, JobStatus
from qgen.domain.notifications import (
    CLAIM_SECONDS,
    MAX_SENDS,
    SENDER_GRACE,
    Notification,
    SendReport,
    Settled,
    TokenResult,
    claim,
    message_for,
    notification_for,
    settle,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def running(*, notify: bool | None = True, saved: int = 0, topic: str = "NATO alphabet") -> Job:
    job = transitions.admit(user_id="alice", prompt="teach me", now=NOW, ip_address=None)
    return job.changed(
        status=JobStatus.PROCESSING,
        notify=notify,
        topic=topic,
        estimated_total=40,
        questions_saved=saved,
    )


def completed(before: Job, saved: int = 40) -> Job:
    ids = [f"q{i}" for i in range(saved)]
    return transitions.complete(before, question_ids=ids, now=NOW, usage=None, model="m")


def test_a_completed_job_notifies_with_its_count_and_topic() -> None:
    before = running()
    owed = notification_for("job1", before, completed(before))
    assert owed is not None
    notification_id, n = owed
    assert notification_id == "job1-run0"
    assert (n.title, n.body) == (
        "40 questions on NATO alphabet are ready",
        "Tap to start studying.",
    )
    assert (n.user_id, n.job_id, n.status, n.sends) == ("alice", "job1", JobStatus.COMPLETED, 0)
    # The sweep leaves it to the ending worker for a while.
    assert n.due_at == NOW + SENDER_GRACE


def test_one_question_is_singular_and_a_long_topic_is_cut() -> None:
    before = running(topic="x" * 300)
    title, _ = message_for(completed(before, saved=1))
    assert title.startswith("1 question on xxx")
    assert title.endswith("is ready")
    assert len(title) <= 100
    assert "…" in title


def test_a_learner_without_a_reachable_device_gets_no_outbox_document() -> None:
    before = running(notify=None)
    assert notification_for("job1", before, completed(before)) is None


@pytest.mark.parametrize("saved", [0, 3])
def test_a_cancel_notifies_only_when_questions_were_kept(saved: int) -> None:
    before = running(saved=saved)
    ids = [f"q{i}" for i in range(saved)]
    owed = notification_for("job1", before, transitions.cancel(before, now=NOW, question_ids=ids))
    if not saved:
        assert owed is None
        return
    assert owed is not None
    assert owed[1].title == "3 questions on NATO alphabet kept"


def test_a_final_failure_notifies_with_the_actionable_message_and_a_retry_hint() -> None:
    before = running().changed(attempts=5)
    failure = Failure(FailureCode.RATE_LIMIT, True, "The model is busy; try again in a minute.")
    after = transitions.fail_attempt(before, failure, now=NOW, max_attempts=5)
    assert after.status is JobStatus.FAILED
    owed = notification_for("job1", before, after)
    assert owed is not None
    assert owed[1].title == "Your questions on NATO alphabet could not be made"
    assert owed[1].body == "The model is busy; try again in a minute. Tap to try again."


def test_a_failure_that_will_be_retried_and_a_terminal_job_saved_again_notify_nothing() -> None:
    before = running().changed(attempts=1)
    failure = Failure(FailureCode.NETWORK, True, "network")
    back = transitions.fail_attempt(before, failure, now=NOW, max_attempts=5)
    assert back.status is JobStatus.PENDING
    assert notification_for("job1", before, back) is None
    done = completed(running())
    assert notification_for("job1", done, done.changed(topic="again")) is None


def test_a_retried_job_ends_under_a_new_notification_id() -> None:
    failed = running().changed(status=JobStatus.FAILED, retryable=True, completed_at=NOW)
    again = transitions.retry(failed, now=NOW).changed(status=JobStatus.PROCESSING, notify=True)
    owed = notification_for("job1", again, completed(again))
    assert owed is not None
    assert owed[0] == "job1-run1"


def outbox(**fields: object) -> Notification:
    values: dict[str, object] = {
        "user_id": "alice",
        "job_id": "job1",
        "status": JobStatus.COMPLETED,
        "title": "t",
        "body": "b",
        "created_at": NOW,
        "due_at": NOW,
        "expire_at": NOW + timedelta(days=1),
    }
    return Notification.model_validate({**values, **fields})


def test_the_sweep_claims_only_a_due_notification_and_holds_it() -> None:
    assert claim(None, now=NOW) is None
    assert claim(outbox(due_at=NOW + timedelta(seconds=1)), now=NOW) is None
    claimed = claim(outbox(), now=NOW)
    assert claimed is not None
    assert claimed.sends == 1
    assert claimed.due_at == NOW + timedelta(seconds=CLAIM_SECONDS)
    assert claim(claimed, now=NOW) is None  # a second sweep keeps off while it is held


def report(**results: TokenResult) -> SendReport:
    failed = TokenResult.FAILED in results.values()
    return SendReport(dict(results), "InternalError: 502" if failed else None)


def test_settle_done_when_no_device_failed_even_if_one_was_unregistered() -> None:
    decision, after = settle(
        outbox(), sends=0, report=report(a=TokenResult.SENT, b=TokenResult.UNREGISTERED), now=NOW
    )
    assert (decision, after) == (Settled.DONE, None)


def test_settle_reschedules_the_failed_devices_only_with_a_growing_wait() -> None:
    failed = report(a=TokenResult.SENT, b=TokenResult.FAILED)
    decision, after = settle(outbox(), sends=0, report=failed, now=NOW)
    assert decision is Settled.RESCHEDULED
    assert after is not None
    assert after.sent_to == ["a"]
    assert after.last_error == "InternalError: 502"
    first_wait = after.due_at - NOW
    _, later = settle(outbox(sends=2), sends=2, report=failed, now=NOW)
    assert later is not None
    assert later.due_at - NOW == first_wait * 4


def test_settle_gives_up_after_the_last_send_and_leaves_someone_elses_alone() -> None:
    failed = report(a=TokenResult.FAILED)
    last = MAX_SENDS - 1
    assert settle(outbox(sends=last), sends=last, report=failed, now=NOW)[0] is Settled.ABANDONED
    # The sweep took it over (sends moved on) or it is gone: this sender writes nothing.
    assert settle(outbox(sends=1), sends=0, report=failed, now=NOW)[0] is Settled.STALE
    assert settle(None, sends=0, report=failed, now=NOW)[0] is Settled.STALE
