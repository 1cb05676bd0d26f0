"""The background progress writer: its commit policy (pure, on numbers) and its hand-over."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from qgen.domain.questions import QuestionDraft, QuestionType
from qgen.domain.transitions import AttemptStoppedError, StopReason
from qgen.services.progress_writer import CommitPolicy, ProgressWriter


def draft(n: int) -> QuestionDraft:
    return QuestionDraft(
        question=f"Q{n}?",
        type=QuestionType.TRUE_FALSE,
        options=["True", "False"],
        correct_answer="True",
        explanation="e",
    )


POLICY = CommitPolicy(interval=1.0, heartbeat=40.0)


def test_the_first_question_is_due_at_once_and_later_ones_an_interval_after_the_last_write() -> (
    None
):
    assert POLICY.due(pending=True, last_write=None, started=5.0) == 5.0
    assert POLICY.due(pending=True, last_write=7.0, started=5.0) == 8.0


def test_a_quiet_model_gets_a_heartbeat_after_the_last_write() -> None:
    assert POLICY.due(pending=False, last_write=None, started=5.0) == 45.0
    assert POLICY.due(pending=False, last_write=7.0, started=5.0) == 47.0


class RecordingWrites:
    """The AttemptWrites port of the writer: records each commit; can stop or break."""

    def __init__(self, *, stop_after: int | None = None, error: Exception | None = None) -> None:
        self.commits: list[tuple[int, int, int, bool]] = []
        self.stop_after = stop_after
        self.error = error
        self.committed = threading.Event()

    def save_batch(
        self, drafts: list[Any], *, generated: int, rejected: int, finalizing: bool = False
    ) -> None:
        if self.error is not None:
            raise self.error
        if self.stop_after is not None and len(self.commits) >= self.stop_after:
            raise AttemptStoppedError(StopReason.CANCELLED)
        self.commits.append((len(drafts), generated, rejected, finalizing))
        self.committed.set()


class FrozenTime:
    """A monotonic clock that never moves: only the first batch and close() can commit."""

    def __call__(self) -> float:
        return 100.0


def writer(writes: RecordingWrites) -> ProgressWriter:
    w = ProgressWriter(writes, POLICY, monotonic=FrozenTime())  # type: ignore[arg-type]
    w.start()
    return w


def test_batches_coalesce_until_the_interval_and_close_flushes_as_finalizing() -> None:
    writes = RecordingWrites()
    w = writer(writes)
    w.add([draft(0)], generated=1, rejected=0)
    assert writes.committed.wait(5)
    # Time stands still, so everything added now waits for close().
    for n in range(1, 4):
        w.add([draft(n)], generated=2, rejected=1)
    w.close(finalizing=True)
    assert writes.commits == [(1, 1, 0, False), (3, 6, 3, True)]
    assert w.saved_this_attempt == 4
    assert w.commits == 2


def test_nothing_pending_and_no_finalizing_means_no_final_commit() -> None:
    writes = RecordingWrites()
    writer(writes).close(finalizing=False)
    assert writes.commits == []


def test_a_stop_found_by_a_commit_stops_the_writer_and_close_raises_it_once() -> None:
    writes = RecordingWrites(stop_after=1)
    w = writer(writes)
    w.add([draft(0)], generated=1, rejected=0)
    assert writes.committed.wait(5)
    w.add([draft(1)], generated=1, rejected=0)
    with pytest.raises(AttemptStoppedError) as exc:
        w.close(finalizing=True)
    assert exc.value.reason is StopReason.CANCELLED
    assert w.stopped
    assert writes.commits == [(1, 1, 0, False)]
    assert w.saved_this_attempt == 1


def test_store_errors_reach_the_reader() -> None:
    w = writer(RecordingWrites(error=RuntimeError("firestore down")))
    w.add([draft(0)], generated=1, rejected=0)
    with pytest.raises(RuntimeError, match="firestore down"):
        w.close(finalizing=False)
