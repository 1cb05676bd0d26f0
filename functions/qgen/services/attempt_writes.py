"""Every write of one worker attempt, each a unit of work fenced by the attempt's lease.

Each write re-reads the job and goes ahead only while the lease still holds it
(`transitions.held`); otherwise AttemptStoppedError is raised and nothing is written. Question
documents and the job document are written apart: questions as soon as they are finished,
the job's progress at most once a second (see question_writer.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from ..config import Settings
from ..domain import transitions
from ..domain.failures import Failure
from ..domain.jobs import Job, Lease, Usage, question_id
from ..domain.prompts import Plan
from ..domain.questions import QuestionDraft, SavedQuestion
from .ports import Clock, JobTransaction, UnitOfWork
from .shared_commits import FencedWrite, SharedCommits, write_held


class Progress(NamedTuple):
    """What the job document shows of a running attempt: the plan (once), the questions saved
    so far and the items judged over all attempts (generated, rejected)."""

    plan: Plan | None
    question_ids: list[str]
    generated: int
    rejected: int


@dataclass(frozen=True)
class AttemptEnd:
    """What an attempt brings to the job's last write: its plan (if the model made one), the
    item counts over all attempts (generated, rejected), its token use."""

    plan: Plan | None = None
    counts: tuple[int, int] | None = None
    usage: Usage | None = None
    # Questions to save in the last commit (those the writer had not committed yet).
    questions: tuple[QuestionDraft, ...] = ()
    # Question documents known to be committed, over all attempts (where the count starts).
    committed: int = 0


class AttemptWrites:
    def __init__(
        self, commits: SharedCommits, lease: Lease, *, clock: Clock, settings: Settings
    ) -> None:
        # Question commits are shared with the other attempts of the instance; the rest are
        # units of work of their own.
        self._commits = commits
        self._uow: UnitOfWork = commits.uow
        self.lease = lease
        self._clock = clock
        self._lease_seconds = settings.lease_seconds
        # The most questions any job may have, before it has a plan.
        self._cap = settings.max_questions_per_job

    def _fenced(self, write: FencedWrite) -> Job:
        """Run ``write`` on the job while the lease holds it, in a unit of work of its own;
        save the job it returns."""
        lease = self.lease

        def body(tx: JobTransaction) -> Job:
            return write_held(tx, lease, transitions.held(tx.get_job(lease.job_id), lease), write)

        return self._uow.run(body)

    def save_questions(
        self,
        positioned: list[tuple[str, QuestionDraft]],
        *,
        topic: str,
        progress: Progress | None = None,
    ) -> None:
        """Question documents, and the job document's progress when it is due (one
        transaction fewer than writing it apart): fenced, in the instance's next shared
        commit (shared_commits.py)."""
        now = self._clock()

        def write(tx: JobTransaction, job: Job) -> Job | None:
            for qid, draft in positioned:
                tx.put_question(qid, self._saved(draft, job, topic, now))
            return None if progress is None else self._progressed(job, progress)

        self._commits.run(self.lease, write, size=len(positioned) + 1)

    def _saved(self, draft: QuestionDraft, job: Job, topic: str, now: datetime) -> SavedQuestion:
        return SavedQuestion.of(
            draft, job_id=self.lease.job_id, user_id=job.user_id, topic=topic, now=now
        )

    def _put(
        self,
        tx: JobTransaction,
        job: Job,
        drafts: tuple[QuestionDraft, ...],
        *,
        first: int,
        now: datetime,
    ) -> list[str]:
        """Save ``drafts`` at the positions from ``first`` on; their ids."""
        ids = [question_id(self.lease.job_id, first + i) for i in range(len(drafts))]
        for qid, draft in zip(ids, drafts, strict=True):
            tx.put_question(qid, self._saved(draft, job, job.topic or "", now))
        return ids

    def save_progress(self, progress: Progress) -> None:
        """The job document alone: the plan, the counts so far, and a renewed lease."""
        self._fenced(lambda _, job: self._progressed(job, progress))

    def _progressed(self, job: Job, progress: Progress) -> Job:
        if progress.plan is not None and job.needs_plan:
            job = transitions.plan(job, progress.plan)
        job = transitions.progress(
            job,
            question_ids=progress.question_ids,
            generated=progress.generated,
            rejected=progress.rejected,
        )
        return transitions.renewed(job, now=self._clock(), lease_seconds=self._lease_seconds)

    def _ending(
        self, tx: JobTransaction, job: Job, end: AttemptEnd, *, exact: bool = False
    ) -> tuple[Job, list[str]]:
        """The job with the attempt's plan and item counts, and its saved questions' ids
        (``exact``: the attempt's count of them is whole, see Job.question_bounds)."""
        if end.plan is not None and job.needs_plan:
            job = transitions.plan(job, end.plan)
        bounds = job.question_bounds(self._cap, committed=end.committed, exact=exact)
        ids = tx.saved_question_ids(self.lease.job_id, bounds)
        if end.counts is not None:
            generated, rejected = end.counts
            job = job.changed(questions_generated=generated, questions_rejected=rejected)
        return job, ids

    def complete(self, end: AttemptEnd, *, model: str) -> Job:
        now = self._clock()
        usage = end.usage

        def write(tx: JobTransaction, job: Job) -> Job:
            # Completing: the writer closed cleanly, every commit answered.
            job, ids = self._ending(tx, job, end, exact=True)
            ids += self._put(tx, job, end.questions, first=len(ids), now=now)
            return transitions.complete(job, question_ids=ids, now=now, usage=usage, model=model)

        return self._fenced(write)

    def fail(
        self,
        failure: Failure,
        end: AttemptEnd,
        *,
        max_attempts: int,
        new_run: bool = False,
        retry_in: float = 0,
    ) -> Job:
        """Back to pending for redelivery, or failed for good (the domain decides which). A
        plan the model made is kept, so the next attempt resumes under the same cap."""
        now = self._clock()

        def write(tx: JobTransaction, job: Job) -> Job:
            job, ids = self._ending(tx, job, end)
            return transitions.fail_attempt(
                job,
                failure,
                now=now,
                max_attempts=max_attempts,
                usage=end.usage,
                question_ids=ids,
                new_run=new_run,
                retry_at=now + timedelta(seconds=retry_in),
            )

        return self._fenced(write)
