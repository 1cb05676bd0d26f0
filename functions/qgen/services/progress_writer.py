"""Commits finished questions from a background thread while the model keeps streaming.

The first question is committed the moment it is finished; after that, batches are coalesced so
the job document gets at most one write per interval (Firestore sustains about one write per
second per document) while no question waits much longer than the interval. When the model is
quiet, a heartbeat renews the lease. A commit that finds the job cancelled or the lease lost
stops the writer; the reader stops at its next chunk and `close` raises the stop, once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..domain.questions import QuestionDraft
from ..domain.transitions import AttemptStoppedError, StopReason
from .attempt_writes import AttemptWrites


@dataclass
class Batch:
    drafts: list[QuestionDraft] = field(default_factory=list)
    generated: int = 0
    rejected: int = 0

    def __bool__(self) -> bool:
        return bool(self.drafts or self.generated or self.rejected)


@dataclass(frozen=True)
class CommitPolicy:
    """When the next commit is due, in the writer's monotonic seconds. Pure."""

    interval: float
    heartbeat: float

    def due(self, *, pending: bool, last_write: float | None, started: float) -> float:
        if pending:
            return started if last_write is None else last_write + self.interval
        return (last_write if last_write is not None else started) + self.heartbeat


class ProgressWriter:
    def __init__(
        self,
        writes: AttemptWrites,
        policy: CommitPolicy,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._writes = writes
        self._policy = policy
        self._monotonic = monotonic
        self._cond = threading.Condition()
        self._pending = Batch()
        self._closing = False
        self._finalizing = False
        self._last_write: float | None = None
        self._started = monotonic()
        self._stopped: StopReason | None = None
        self._error: BaseException | None = None
        self.saved_this_attempt = 0
        self.commits = 0
        self._thread = threading.Thread(target=self._run, name="progress-writer", daemon=True)

    # ----- reader side ---------------------------------------------------------------------

    def start(self) -> None:
        self._started = self._monotonic()
        self._thread.start()

    @property
    def stopped(self) -> bool:
        """True once a commit found the job cancelled or the lease lost."""
        return self._stopped is not None

    def add(self, drafts: list[QuestionDraft], *, generated: int, rejected: int) -> None:
        if not (drafts or generated or rejected):
            return
        with self._cond:
            self._pending.drafts.extend(drafts)
            self._pending.generated += generated
            self._pending.rejected += rejected
            self._cond.notify()

    def close(self, *, finalizing: bool) -> None:
        """Flush what is pending (marking the job finalizing if asked) and stop.

        Raises AttemptStoppedError if any commit found the attempt stopped."""
        with self._cond:
            self._closing = True
            self._finalizing = finalizing
            self._cond.notify()
        self._thread.join()
        if self._error is not None:
            raise self._error
        if self._stopped is not None:
            raise AttemptStoppedError(self._stopped)

    # ----- writer thread -------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while (batch := self._next_batch()) is not None:
                self._commit(*batch)
        except AttemptStoppedError as stop:
            with self._cond:
                self._stopped = stop.reason
        except BaseException as exc:  # surfaced to the reader by close()
            self._error = exc

    def _next_batch(self) -> tuple[Batch, bool] | None:
        """Wait until there is something to commit; None once closed and flushed."""
        with self._cond:
            while True:
                if self._closing:
                    batch, finalizing = self._take(), self._finalizing
                    self._finalizing = False
                    return (batch, finalizing) if (batch or finalizing) else None
                now = self._monotonic()
                due = self._policy.due(
                    pending=bool(self._pending), last_write=self._last_write, started=self._started
                )
                if now >= due:
                    return self._take(), False  # an empty batch renews the lease
                self._cond.wait(due - now)

    def _take(self) -> Batch:
        batch, self._pending = self._pending, Batch()
        return batch

    def _commit(self, batch: Batch, finalizing: bool) -> None:
        self._writes.save_batch(
            batch.drafts,
            generated=batch.generated,
            rejected=batch.rejected,
            finalizing=finalizing,
        )
        self._last_write = self._monotonic()
        self.commits += 1
        self.saved_this_attempt += len(batch.drafts)
