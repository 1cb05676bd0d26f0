"""One instance's question commits, shared by its attempts, on both backends: writes that arrive
while a commit is in flight go together in the next one, and each keeps its own fence — a
cancelled job or a write that raises fails alone, the others land."""

from __future__ import annotations

import pytest
from qgen.domain.jobs import AttemptStoppedError, Job, JobStatus, Lease, StopReason
from qgen.services.ports import JobTransaction
from qgen.services.shared_commits import SharedCommits

from tests.support.backends import Backend
from tests.support.shared_commits import Callers, claimed_jobs, one_question


def test_writes_that_arrive_during_a_commit_share_the_next_one(backend: Backend) -> None:
    first, *others = claimed_jobs(backend, 4)
    callers = Callers(SharedCommits(backend.uow))
    callers.hold_first(first)
    for lease in others:
        callers.start(lease, one_question(lease))
    callers.queued(len(others))

    outcomes = callers.finish()

    assert callers.shared.commits == 2  # the held one, then the three queued behind it at once
    for lease in (first, *others):
        job = outcomes[lease.job_id]
        assert isinstance(job, Job)
        assert job.questions_saved == 1
        assert backend.question_count(lease.job_id) == 1
        assert backend.job(lease.job_id).questions_saved == 1


def test_a_cancelled_job_writes_nothing_and_the_others_in_its_commit_land(
    backend: Backend,
) -> None:
    first, cancelled, other = claimed_jobs(backend, 3)
    job = backend.job(cancelled.job_id)
    backend.put_job(cancelled.job_id, job.changed(status=JobStatus.CANCELLED))
    callers = Callers(SharedCommits(backend.uow))
    callers.hold_first(first)
    callers.start(cancelled, one_question(cancelled))
    callers.start(other, one_question(other))
    callers.queued(2)

    outcomes = callers.finish()

    stop = outcomes[cancelled.job_id]
    assert isinstance(stop, AttemptStoppedError)
    assert stop.reason is StopReason.CANCELLED
    assert backend.question_count(cancelled.job_id) == 0
    assert backend.job(cancelled.job_id).status is JobStatus.CANCELLED
    assert isinstance(outcomes[other.job_id], Job)
    assert backend.question_count(other.job_id) == 1
    assert callers.shared.commits == 2


def test_a_write_that_raises_fails_alone_and_leaves_nothing_behind(backend: Backend) -> None:
    first, faulty, other = claimed_jobs(backend, 3)

    def breaks(tx: JobTransaction, job: Job) -> Job | None:
        one_question(faulty)(tx, job)  # its question is in the transaction, then it fails
        raise ValueError("a bug in one job's write")

    callers = Callers(SharedCommits(backend.uow))
    callers.hold_first(first)
    callers.start(faulty, breaks)
    callers.start(other, one_question(other))
    callers.queued(2)

    outcomes = callers.finish()

    assert isinstance(outcomes[faulty.job_id], ValueError)
    assert backend.question_count(faulty.job_id) == 0
    assert backend.job(faulty.job_id).questions_saved == 0
    assert isinstance(outcomes[other.job_id], Job)
    assert backend.question_count(other.job_id) == 1


def test_a_lost_lease_stops_its_caller_at_once(backend: Backend) -> None:
    (lease,) = claimed_jobs(backend, 1)
    stale = Lease(lease.job_id, "an-earlier-delivery", lease.attempt - 1)
    shared = SharedCommits(backend.uow)

    with pytest.raises(AttemptStoppedError) as stopped:
        shared.run(stale, one_question(stale), size=2)

    assert stopped.value.reason is StopReason.LEASE_LOST
    assert backend.question_count(lease.job_id) == 0
    shared.run(lease, one_question(lease), size=2)  # the holder still writes
    assert backend.question_count(lease.job_id) == 1
