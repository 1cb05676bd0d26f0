"""Every write of one worker attempt, each a unit of work fenced by the attempt's lease.

Each write re-reads the job and goes ahead only while the lease still holds it
(`transitions.held`); otherwise AttemptStoppedError is raised and nothing is written. The
worker service and the progress writer share one instance per attempt.
"""

from __future__ import annotations

from collections.abc import Callable

from ..domain import transitions
from ..domain.failures import Failure
from ..domain.jobs import Job, Lease, Usage
from ..domain.questions import QuestionDraft, SavedQuestion
from .ports import Clock, JobTransaction, UnitOfWork


class AttemptWrites:
    def __init__(self, uow: UnitOfWork, lease: Lease, *, clock: Clock, lease_seconds: int) -> None:
        self._uow = uow
        self.lease = lease
        self._clock = clock
        self._lease_seconds = lease_seconds

    def _write(self, change: Callable[[JobTransaction, Job], Job]) -> Job:
        job_id = self.lease.job_id

        def body(tx: JobTransaction) -> Job:
            job = transitions.held(tx.get_job(job_id), self.lease)
            after = change(tx, job)
            tx.save_job(job_id, job, after)
            return after

        return self._uow.run(body)

    def _renewed(self, job: Job) -> Job:
        return transitions.renewed(job, now=self._clock(), lease_seconds=self._lease_seconds)

    def plan(self, *, topic: str, total: int) -> Job:
        return self._write(
            lambda _, job: self._renewed(transitions.plan(job, topic=topic, total=total))
        )

    def save_batch(
        self,
        drafts: list[QuestionDraft],
        *,
        generated: int,
        rejected: int,
        finalizing: bool = False,
    ) -> Job:
        """Questions and progress in one commit; an empty batch is a lease heartbeat."""
        job_id = self.lease.job_id

        def change(tx: JobTransaction, job: Job) -> Job:
            now = self._clock()
            ids = transitions.next_question_ids(job_id, job, len(drafts))
            for qid, draft in zip(ids, drafts, strict=True):
                saved = SavedQuestion.of(
                    draft, job_id=job_id, user_id=job.user_id, topic=job.topic or "", now=now
                )
                tx.put_question(qid, saved)
            progressed = transitions.progress(
                job,
                saved_ids=ids,
                generated=generated,
                rejected=rejected,
                finalizing=finalizing,
            )
            return self._renewed(progressed)

        return self._write(change)

    def complete(self, *, usage: Usage | None, model: str) -> Job:
        now = self._clock()
        return self._write(
            lambda _, job: transitions.complete(job, now=now, usage=usage, model=model)
        )

    def fail(self, failure: Failure, *, usage: Usage | None, max_attempts: int) -> Job:
        """Back to pending for redelivery, or failed for good (the domain decides which)."""
        now = self._clock()
        return self._write(
            lambda _, job: transitions.fail_attempt(
                job, failure, now=now, max_attempts=max_attempts, usage=usage
            )
        )
