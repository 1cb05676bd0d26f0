"""Writes one attempt's questions from a background thread while the model keeps streaming.

Group commit: finished questions are committed as soon as no commit is in flight, so each
question is one commit away from the learner's listener when the model is slower than a
commit, and questions batch up by themselves when it is faster. Each commit is fenced by the
lease (a cancelled job or a lost lease writes nothing). The job document is written apart and
at most once per interval (Firestore sustains about one write per second per document): the
plan and first counts at once, then counts that may lag the question documents by up to the
interval; a quiet model still gets a heartbeat that renews the lease. The end of the attempt
counts the question documents themselves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..domain.jobs import AttemptStoppedError, StopReason, question_id
from ..domain.prompts import Plan
from ..domain.questions import QuestionDraft
from .attempt_writes import AttemptWrites, Progress


@dataclass(frozen=True)
class ProgressPolicy:
    """When the job document is next due, in the writer's monotonic seconds. Pure."""

    interval: float
    heartbeat: float

    def due(self, *, changed: bool, last_write: float | None, started: float) -> float:
        if changed:
            return started if last_write is None else last_write + self.interval
        return (last_write if last_write is not None else started) + self.heartbeat


@dataclass
class Counts:
    """What the job document says about this job's questions, over all attempts."""

    question_ids: list[str]
    generated: int
    rejected: int


class QuestionWriter:
    def __init__(
        self,
        writes: AttemptWrites,
        policy: ProgressPolicy,
        counts: Counts,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._writes = writes
        self._policy = policy
        self._counts = counts
        self._monotonic = monotonic
        self._cond = threading.Condition()
        self._drafts: list[QuestionDraft] = []
        self._plan: Plan | None = None
        self._plan_written = False
        self._changed = False
        self._closing = False
        self._last_progress: float | None = None
        self._started = monotonic()
        self._stopped: StopReason | None = None
        self._error: BaseException | None = None
        self.saved_this_attempt = 0
        self.commits = 0
        self._thread = threading.Thread(target=self._run, name="question-writer", daemon=True)

    # ----- reader side ---------------------------------------------------------------------

    def start(self, plan: Plan | None) -> None:
        """``plan``: the one an earlier attempt fixed (already on the job), or None."""
        self._plan, self._plan_written = plan, plan is not None
        self._started = self._monotonic()
        self._thread.start()

    @property
    def stopped(self) -> bool:
        """True once a commit found the job cancelled or the lease lost."""
        return self._stopped is not None

    def set_plan(self, plan: Plan) -> None:
        with self._cond:
            self._plan, self._changed = plan, True
            self._cond.notify()

    def add(self, drafts: list[QuestionDraft], *, generated: int, rejected: int) -> None:
        if not (drafts or generated or rejected):
            return
        with self._cond:
            self._drafts.extend(drafts)
            self._counts.generated += generated
            self._counts.rejected += rejected
            self._changed = True
            self._cond.notify()

    def close(self, *, hand_back: bool = False) -> list[QuestionDraft]:
        """Stop, committing the questions still waiting — or, with ``hand_back``, returning
        them for the attempt's last commit to write (one commit fewer at the end). Raises
        AttemptStoppedError if any commit found the attempt stopped."""
        with self._cond:
            self._closing = True
            left: list[QuestionDraft] = []
            if hand_back:
                left, self._drafts = self._drafts, []
            self._cond.notify()
        self._thread.join()
        if self._error is not None:
            raise self._error
        if self._stopped is not None:
            raise AttemptStoppedError(self._stopped)
        return left

    # ----- writer thread -------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while (action := self._next()) is not None:
                action()
        except AttemptStoppedError as stop:
            with self._cond:
                self._stopped = stop.reason
        except BaseException as exc:  # surfaced to the reader by close()
            self._error = exc

    def _next(self) -> Callable[[], None] | None:
        """Wait for the next commit: questions first (with the job document if it is due),
        then the job document alone when due."""
        with self._cond:
            while True:
                due, now = self._due(), self._monotonic()
                if self._drafts:
                    drafts, self._drafts = self._drafts, []
                    return lambda: self._commit_questions(drafts, with_progress=now >= due)
                if self._closing:
                    return None
                if now >= due:
                    return self._commit_progress  # counts, the plan, or a heartbeat
                self._cond.wait(due - now)

    def _due(self) -> float:
        plan_pending = self._plan is not None and not self._plan_written
        return self._policy.due(
            changed=self._changed or plan_pending,
            last_write=self._last_progress,
            started=self._started,
        )

    def _commit_questions(self, drafts: list[QuestionDraft], *, with_progress: bool) -> None:
        assert self._plan is not None, "questions come after the plan"
        ids = self._counts.question_ids
        job_id = self._writes.lease.job_id
        positioned = [(question_id(job_id, len(ids) + i), d) for i, d in enumerate(drafts)]
        new_ids = [qid for qid, _ in positioned]
        progress = self._snapshot(new_ids) if with_progress else None
        self._writes.save_questions(positioned, topic=self._plan.topic, progress=progress)
        with self._cond:
            ids.extend(new_ids)
            self._changed = self._changed or progress is None
        if progress is not None:
            self._progress_written(progress)
        self.commits += 1
        self.saved_this_attempt += len(drafts)

    def _commit_progress(self) -> None:
        progress = self._snapshot([])
        self._writes.save_progress(progress)
        self._progress_written(progress)
        self.commits += 1

    def _snapshot(self, new_ids: list[str]) -> Progress:
        """The job document's progress now, with ``new_ids`` (committed with it) counted."""
        with self._cond:
            counts = self._counts
            self._changed = False
            return Progress(
                None if self._plan_written else self._plan,
                [*counts.question_ids, *new_ids],
                counts.generated,
                counts.rejected,
            )

    def _progress_written(self, progress: Progress) -> None:
        self._plan_written = self._plan_written or progress.plan is not None
        self._last_progress = self._monotonic()
