"""Coalescing policy of the background progress writer, on a recording fake store."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime

import pytest
from qgen.adapters.worker_store import Lease, WriteOutcome
from qgen.domain.questions import QuestionDraft, QuestionType
from qgen.services.progress_writer import ProgressWriter

from tests.fakes import RecordingBatchStore

LEASE = Lease("job", "token", 1)


def draft(n: int) -> QuestionDraft:
    return QuestionDraft(
        question=f"Question {n}?",
        type=QuestionType.TRUE_FALSE,
        options=["True", "False"],
        correct_answer="True",
        explanation="Because.",
    )


def writer(store: RecordingBatchStore, interval: float = 0.2, heartbeat: float = 5.0):  # type: ignore[no-untyped-def]
    w = ProgressWriter(
        store,  # type: ignore[arg-type]
        LEASE,
        now=lambda: datetime.now(UTC),
        interval_seconds=interval,
        heartbeat_seconds=heartbeat,
    )
    w.start()
    return w


def test_first_question_is_committed_at_once_then_batches_are_coalesced() -> None:
    store = RecordingBatchStore()
    w = writer(store, interval=0.2)
    start = time.monotonic()
    w.add([draft(0)], generated=1, rejected=0)
    time.sleep(0.1)
    assert len(store.commits) == 1
    assert store.commits[0][0] - start < 0.1
    # Ten questions arriving over 0.5 s become a few commits, never closer than the interval.
    for n in range(1, 11):
        w.add([draft(n)], generated=1, rejected=0)
        time.sleep(0.05)
    assert w.close(finalizing=True) is WriteOutcome.WRITTEN
    times = [t for t, _, _ in store.commits]
    # The final flush on close is immediate; every other commit respects the interval.
    gaps = [b - a for a, b in itertools.pairwise(times[:-1])]
    assert all(gap >= 0.19 for gap in gaps), gaps
    assert len(store.commits) <= 6
    assert store.saved == 11
    assert store.commits[-1][2] is True, "the last commit marks the job finalizing"


def test_no_question_waits_much_longer_than_the_interval() -> None:
    store = RecordingBatchStore()
    w = writer(store, interval=0.2)
    w.add([draft(0)], generated=1, rejected=0)
    time.sleep(0.05)
    added = time.monotonic()
    w.add([draft(1)], generated=1, rejected=0)
    # The model goes quiet: the pending question is still committed on time.
    time.sleep(0.6)
    assert len(store.commits) == 2
    assert store.commits[1][0] - added < 0.45
    w.close(finalizing=False)


def test_heartbeat_renews_the_lease_while_the_model_is_quiet() -> None:
    store = RecordingBatchStore()
    w = writer(store, heartbeat=0.1)
    time.sleep(0.35)
    w.close(finalizing=False)
    assert len(store.commits) >= 3
    assert all(n == 0 for _, n, _ in store.commits)


def test_a_cancelled_job_stops_the_writer_and_nothing_more_is_written() -> None:
    store = RecordingBatchStore(cancel_after=1)
    w = writer(store, interval=0.05)
    w.add([draft(0)], generated=1, rejected=0)
    time.sleep(0.1)
    w.add([draft(1)], generated=1, rejected=0)
    time.sleep(0.2)
    assert w.stopped is WriteOutcome.CANCELLED
    w.add([draft(2)], generated=1, rejected=0)
    assert w.close(finalizing=True) is WriteOutcome.CANCELLED
    assert store.saved == 1
    assert len(store.commits) == 2


def test_store_errors_reach_the_reader() -> None:
    class Broken(RecordingBatchStore):
        def save_batch(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            raise RuntimeError("firestore down")

    w = writer(Broken())
    w.add([draft(0)], generated=1, rejected=0)
    with pytest.raises(RuntimeError, match="firestore down"):
        w.close(finalizing=False)
