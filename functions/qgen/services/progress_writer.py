"""Commits finished questions from a background thread while the model keeps streaming.

The first question is committed the moment it is finished; after that, batches are coalesced so
the job document gets at most one write per interval (Firestore sustains about one write per
second per document) while no question waits much longer than the interval. When the model is
quiet, a heartbeat renews the lease. A commit that finds the job cancelled or the lease lost
stops the writer, and the reader stops at its next chunk.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from ..adapters.clock import Clock
from ..adapters.worker_store import BatchResult, Lease, WorkerStore, WriteOutcome
from ..domain.questions import QuestionDraft


@dataclass
class _Pending:
    drafts: list[QuestionDraft] = field(default_factory=list)
    generated: int = 0
    rejected: int = 0

    def __bool__(self) -> bool:
        return bool(self.drafts or self.generated or self.rejected)


class ProgressWriter:
    def __init__(
        self,
        store: WorkerStore,
        lease: Lease,
        *,
        now: Clock,
        interval_seconds: float,
        heartbeat_seconds: float,
    ) -> None:
        self._store = store
        self._lease = lease
        self._now = now
        self._interval = interval_seconds
        self._heartbeat = heartbeat_seconds
        self._cond = threading.Condition()
        self._pending = _Pending()
        self._closing = False
        self._finalizing = False
        self._flushed_on_close = False
        self._last_write: float | None = None
        self._started = time.monotonic()
        self._stopped: WriteOutcome | None = None
        self._error: BaseException | None = None
        self.saved_total = 0
        self.saved_this_attempt = 0
        self.commits = 0
        self._thread = threading.Thread(target=self._run, name="progress-writer", daemon=True)

    # ----- reader side ---------------------------------------------------------------------

    def start(self) -> None:
        self._started = time.monotonic()
        self._thread.start()

    @property
    def stopped(self) -> WriteOutcome | None:
        """CANCELLED or LEASE_LOST once a commit found the job no longer ours."""
        return self._stopped

    def add(self, drafts: list[QuestionDraft], *, generated: int, rejected: int) -> None:
        if not (drafts or generated or rejected):
            return
        with self._cond:
            self._pending.drafts.extend(drafts)
            self._pending.generated += generated
            self._pending.rejected += rejected
            self._cond.notify()

    def close(self, *, finalizing: bool) -> WriteOutcome:
        """Flush what is pending (marking the job finalizing if asked) and stop."""
        with self._cond:
            self._closing = True
            self._finalizing = finalizing
            self._cond.notify()
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._stopped or WriteOutcome.WRITTEN

    # ----- writer thread -------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # surfaced to the reader by close()
            self._error = exc

    def _loop(self) -> None:
        while True:
            with self._cond:
                batch, finalizing = self._next_batch()
                if batch is None:
                    return
            result = self._commit(batch, finalizing)
            if result.outcome is not WriteOutcome.WRITTEN:
                with self._cond:
                    self._stopped = result.outcome
                return

    def _next_batch(self) -> tuple[_Pending | None, bool]:
        """Wait (holding the condition) until there is something to commit, or the end."""
        while True:
            now = time.monotonic()
            if self._closing:
                if self._flushed_on_close:
                    return None, False
                self._flushed_on_close = True
                if self._pending or self._finalizing:
                    return self._take(), self._finalizing
                return None, False
            if self._pending:
                due = now if self._last_write is None else self._last_write + self._interval
                if now >= due:
                    return self._take(), False
                self._cond.wait(due - now)
                continue
            quiet_for = now - (self._last_write or self._started)
            if quiet_for >= self._heartbeat:
                return _Pending(), False  # renews the lease, notices a cancellation
            self._cond.wait(self._heartbeat - quiet_for)

    def _take(self) -> _Pending:
        batch, self._pending = self._pending, _Pending()
        return batch

    def _commit(self, batch: _Pending, finalizing: bool) -> BatchResult:
        result = self._store.save_batch(
            self._lease,
            batch.drafts,
            generated=batch.generated,
            rejected=batch.rejected,
            now=self._now(),
            finalizing=finalizing,
        )
        self._last_write = time.monotonic()
        self.commits += 1
        if result.outcome is WriteOutcome.WRITTEN:
            self.saved_total = result.saved_total
            self.saved_this_attempt += len(batch.drafts)
        return result
