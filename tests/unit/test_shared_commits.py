"""SharedCommits' queue on the in-memory fakes: how a batch is cut, and a commit that fails."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pytest
from qgen.domain.errors import DomainError, ErrorCode
from qgen.services.ports import JobTransaction
from qgen.services.shared_commits import SharedCommits

from tests.support.backends import MemoryBackend
from tests.support.shared_commits import Callers, claimed_jobs, one_question

T = TypeVar("T")


def test_a_batch_stops_at_the_write_limit_and_the_rest_go_next() -> None:
    backend = MemoryBackend()
    first, *others = claimed_jobs(backend, 4)
    callers = Callers(SharedCommits(backend.uow, max_writes=4))  # two callers of 2 writes
    callers.hold_first(first)
    for lease in others:
        callers.start(lease, one_question(lease))
    callers.queued(3)

    callers.finish()

    assert callers.shared.commits == 3  # the held one; two queued callers; the third
    assert all(backend.question_count(lease.job_id) == 1 for lease in (first, *others))


class FailingUnitOfWork:
    """A database that refuses every commit after the first ``good`` ones."""

    def __init__(self, backend: MemoryBackend, good: int) -> None:
        self._store, self._good = backend.store, good

    def run(self, body: Callable[[JobTransaction], T]) -> T:
        if self._good == 0:
            raise DomainError(ErrorCode.CONTENTION, "busy", retry_after_seconds=1)
        self._good -= 1
        return self._store.run(body)

    def new_job_id(self) -> str:
        return self._store.new_job_id()


def test_a_commit_that_fails_fails_every_caller_in_it() -> None:
    backend = MemoryBackend()
    first, *others = claimed_jobs(backend, 3)
    callers = Callers(SharedCommits(FailingUnitOfWork(backend, good=1)))
    callers.hold_first(first)
    for lease in others:
        callers.start(lease, one_question(lease))
    callers.queued(2)

    outcomes = callers.finish()

    assert backend.question_count(first.job_id) == 1
    for lease in others:
        error = outcomes[lease.job_id]
        assert isinstance(error, DomainError)
        assert error.code is ErrorCode.CONTENTION
        assert backend.question_count(lease.job_id) == 0
    # The queue is free again: the next caller is not left waiting behind the failure.
    shared = callers.shared
    with pytest.raises(DomainError):
        shared.run(others[0], one_question(others[0]), size=2)
