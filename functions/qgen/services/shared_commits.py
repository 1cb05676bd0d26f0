"""Group commit across the attempts one worker instance runs at once.

Each attempt's writer commits its finished questions as soon as its previous commit has
answered (question_writer.py). With many jobs streaming in one instance, those commits queue
here instead: while one commit is in flight, the writes that arrive meanwhile wait, and the
next commit carries all of them — one read of every job concerned, then every job's
questions. One job alone commits exactly as before (one read, one commit); K jobs at once
make fewer, larger commits, so the database does not spend its time on per-commit work
(Firestore bills and limits per document, not per commit; the emulator's listeners re-run
their queries once per commit).

Each write keeps its own fence: a job that was cancelled or whose lease was lost writes
nothing and its caller gets AttemptStoppedError, while the other jobs of the same commit land.
A write that raises fails its own caller alone: the commit is made again without it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from ..domain import transitions
from ..domain.jobs import AttemptStoppedError, Job, Lease
from .ports import JobTransaction, UnitOfWork

# What a write does to its job, once the lease is known to hold it: the job to save, or None.
# Writes only: every read of the commit is the jobs' own, made before any write.
FencedWrite = Callable[[JobTransaction, Job], Job | None]

# Firestore takes at most 500 writes in one commit; leave room for the jobs' own documents.
MAX_WRITES_PER_COMMIT = 400


@dataclass(eq=False)
class _Request:
    lease: Lease
    write: FencedWrite
    size: int  # documents it writes, at most
    done: bool = False
    job: Job | None = None
    error: BaseException | None = None

    def finish(self, job: Job | None = None, error: BaseException | None = None) -> None:
        self.job, self.error, self.done = job, error, True

    def result(self) -> Job:
        if self.error is not None:
            raise self.error
        assert self.job is not None
        return self.job


class _FaultyWriteError(Exception):
    """One request's write raised: it fails alone, the commit is made without it."""

    def __init__(self, request: _Request, error: Exception) -> None:
        super().__init__(str(error))
        self.request, self.error = request, error


class SharedCommits:
    """Fenced writes of many attempts, committed together while a commit is in flight."""

    def __init__(self, uow: UnitOfWork, *, max_writes: int = MAX_WRITES_PER_COMMIT) -> None:
        self.uow = uow
        self._max_writes = max_writes
        self._cond = threading.Condition()
        self._waiting: list[_Request] = []
        self._busy = False
        self.commits = 0

    def run(self, lease: Lease, write: FencedWrite, *, size: int) -> Job:
        """Run ``write`` on the job while ``lease`` holds it, in the next commit; the job after.

        Raises AttemptStoppedError (nothing written) when the lease no longer holds the job."""
        request = _Request(lease, write, max(size, 1))
        with self._cond:
            self._waiting.append(request)
        while True:
            with self._cond:
                while self._busy and not request.done:
                    self._cond.wait()
                if request.done:
                    return request.result()
                # This caller makes the next commit, for everyone waiting (up to the limit).
                self._busy = True
                batch = self._take()
            try:
                self._commit(batch)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _take(self) -> list[_Request]:
        batch: list[_Request] = []
        size = 0
        while self._waiting and (not batch or size + self._waiting[0].size <= self._max_writes):
            request = self._waiting.pop(0)
            batch.append(request)
            size += request.size
        return batch

    def _commit(self, batch: list[_Request]) -> None:
        pending = list(batch)
        while pending:
            try:
                outcomes = self.uow.run(lambda tx: _apply(tx, pending))
            except _FaultyWriteError as faulty:
                faulty.request.finish(error=faulty.error)
                pending.remove(faulty.request)
                continue
            except BaseException as exc:  # the commit failed: every caller in it learns why
                for request in pending:
                    request.finish(error=exc)
                if not isinstance(exc, Exception):
                    raise
                return
            self.commits += 1
            for request, job, stop in outcomes:
                request.finish(job, stop)
            return


def _apply(
    tx: JobTransaction, pending: list[_Request]
) -> list[tuple[_Request, Job | None, AttemptStoppedError | None]]:
    """One transaction: every job read at once, then each held job's writes."""
    jobs = tx.get_jobs([request.lease.job_id for request in pending])
    outcomes: list[tuple[_Request, Job | None, AttemptStoppedError | None]] = []
    for request in pending:
        job_id = request.lease.job_id
        try:
            job = transitions.held(jobs[job_id], request.lease)
        except AttemptStoppedError as stop:
            outcomes.append((request, None, stop))
            continue
        try:
            # A later write of the same job builds on this one.
            jobs[job_id] = job = write_held(tx, request.lease, job, request.write)
        except Exception as exc:
            raise _FaultyWriteError(request, exc) from exc
        outcomes.append((request, job, None))
    return outcomes


def write_held(tx: JobTransaction, lease: Lease, job: Job, write: FencedWrite) -> Job:
    """``write`` on ``job``, which ``lease`` was just found to hold; the job it returns is saved
    in the same transaction. The job after."""
    after = write(tx, job)
    if after is None:
        return job
    tx.save_job(lease.job_id, job, after)
    return after
