"""Helpers for SharedCommits' tests: claimed jobs, a fenced question write, and callers from
threads of their own that queue behind a commit held open."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from qgen.config import Settings
from qgen.domain import transitions
from qgen.domain.jobs import Job, Lease, question_id
from qgen.domain.questions import QuestionDraft, SavedQuestion
from qgen.services.jobs import CreateRequest, JobService
from qgen.services.ports import JobTransaction
from qgen.services.shared_commits import FencedWrite, SharedCommits

from tests.support.backends import Backend
from tests.support.fakes import FakeClock, InMemoryTaskQueue
from tests.support.questions import item

SETTINGS = Settings(project_id="t")


def claimed_jobs(backend: Backend, count: int) -> list[Lease]:
    """``count`` jobs, each of its own learner, each claimed by a worker: their leases."""
    clock = FakeClock()
    jobs = JobService(
        uow=backend.uow,
        reader=backend.reader,
        queue=InMemoryTaskQueue(),
        settings=SETTINGS,
        clock=clock,
    )
    leases = []
    for n in range(count):
        request = CreateRequest(user_id=f"learner{n}", prompt="NATO alphabet", client_ip="")
        job_id = jobs.create(request).stored.job_id

        def claim(tx: JobTransaction, job_id: str = job_id) -> transitions.Claim:
            job = tx.get_job(job_id)
            decision = transitions.claim(
                job_id, job, now=clock.now, lease_seconds=120, token=f"token-{job_id}"
            )
            assert job is not None
            assert decision.job is not None
            tx.save_job(job_id, job, decision.job)
            return decision

        lease = backend.uow.run(claim).lease
        assert lease is not None
        leases.append(lease)
    return leases


def one_question(lease: Lease, *, before: Callable[[], None] = lambda: None) -> FencedWrite:
    """A write of the job's first question; ``before`` runs inside the transaction."""

    def write(tx: JobTransaction, job: Job) -> Job | None:
        before()
        draft = QuestionDraft.model_validate(item(0))
        saved = SavedQuestion.of(
            draft, job_id=lease.job_id, user_id=job.user_id, topic="t", now=datetime.now(UTC)
        )
        tx.put_question(question_id(lease.job_id, 0), saved)
        return transitions.progress(
            job, question_ids=[question_id(lease.job_id, 0)], generated=1, rejected=0
        )

    return write


class Callers:
    """Callers of one SharedCommits from threads of their own, the first held inside its
    commit until released, so that the others queue behind it."""

    def __init__(self, shared: SharedCommits) -> None:
        self.shared = shared
        self.release = threading.Event()
        self.outcomes: dict[str, object] = {}
        self._threads: list[threading.Thread] = []

    def start(self, lease: Lease, write: FencedWrite) -> None:
        def call() -> None:
            try:
                self.outcomes[lease.job_id] = self.shared.run(lease, write, size=2)
            except Exception as exc:
                self.outcomes[lease.job_id] = exc

        thread = threading.Thread(target=call, daemon=True)
        self._threads.append(thread)
        thread.start()

    def hold_first(self, lease: Lease) -> None:
        inside = threading.Event()

        def before() -> None:
            inside.set()
            assert self.release.wait(30)

        self.start(lease, one_question(lease, before=before))
        assert inside.wait(30)

    def queued(self, count: int) -> None:
        deadline = time.monotonic() + 30
        while len(self.shared._waiting) < count:
            assert time.monotonic() < deadline, "the callers did not queue"
            time.sleep(0.005)

    def finish(self) -> dict[str, object]:
        self.release.set()
        for thread in self._threads:
            thread.join(30)
        return self.outcomes
