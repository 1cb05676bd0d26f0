"""The question writer: group commit of questions, the job document at most once per interval.

The clock is a fake that never moves unless told, and commits are observed through events, so
nothing here sleeps or measures wall-clock gaps.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from qgen.domain.jobs import AttemptStoppedError, Lease, StopReason, question_id
from qgen.domain.prompts import Plan
from qgen.domain.questions import QuestionDraft, QuestionType
from qgen.services.attempt_writes import Progress
from qgen.services.question_writer import Counts, ProgressPolicy, QuestionWriter

POLICY = ProgressPolicy(interval=1.0, heartbeat=40.0)
PLAN = Plan("NATO", 10)


def draft(n: int) -> QuestionDraft:
    return QuestionDraft(
        question=f"Q{n}?",
        type=QuestionType.TRUE_FALSE,
        options=["True", "False"],
        correct_answer="True",
        explanation="e",
    )


def test_the_job_document_is_due_at_once_then_an_interval_after_its_last_write() -> None:
    assert POLICY.due(changed=True, last_write=None, started=5.0) == 5.0
    assert POLICY.due(changed=True, last_write=7.0, started=5.0) == 8.0


def test_a_quiet_model_gets_a_heartbeat_after_the_last_write() -> None:
    assert POLICY.due(changed=False, last_write=None, started=5.0) == 45.0
    assert POLICY.due(changed=False, last_write=7.0, started=5.0) == 47.0


class RecordingWrites:
    """AttemptWrites as the writer sees it: records commits; can hold, stop or break them."""

    def __init__(self, *, stop_after: int | None = None, error: Exception | None = None) -> None:
        self.lease = Lease("job1", "token", 1)
        self.questions: list[list[str]] = []
        self.progress: list[dict[str, Any]] = []
        # Which of the progress writes went in a question commit (by index).
        self.with_questions: list[int] = []
        self.stop_after = stop_after
        self.error = error
        self.committed = threading.Semaphore(0)
        self.progressed = threading.Semaphore(0)
        self.release = threading.Event()
        self.release.set()

    def save_questions(
        self,
        positioned: list[tuple[str, QuestionDraft]],
        *,
        topic: str,
        progress: Progress | None = None,
    ) -> None:
        self.release.wait(5)
        if self.error is not None:
            raise self.error
        if self.stop_after is not None and len(self.questions) >= self.stop_after:
            raise AttemptStoppedError(StopReason.CANCELLED)
        self.questions.append([qid for qid, _ in positioned])
        if progress is not None:  # the job document went with these questions
            self.with_questions.append(len(self.progress))
            self.save_progress(progress)
        self.committed.release()

    def save_progress(self, progress: Progress) -> None:
        self.progress.append(progress._asdict())
        self.progressed.release()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def start(
    writes: RecordingWrites, plan: Plan | None = None, clock: Clock | None = None
) -> QuestionWriter:
    w = QuestionWriter(
        writes,  # type: ignore[arg-type]
        POLICY,
        Counts(["job1-q000"], generated=3, rejected=1),
        monotonic=clock or Clock(),
    )
    w.start(plan)
    return w


def test_each_question_is_committed_as_soon_as_no_commit_is_in_flight() -> None:
    writes = RecordingWrites()
    w = start(writes, PLAN)
    for n in range(3):
        w.add([draft(n)], generated=1, rejected=0)
        assert writes.committed.acquire(timeout=5)
    w.close()
    # Ids continue after the question an earlier attempt saved.
    assert writes.questions == [[question_id("job1", i)] for i in (1, 2, 3)]
    assert w.saved_this_attempt == 3


def test_questions_finished_while_a_commit_is_in_flight_go_together_in_the_next() -> None:
    writes = RecordingWrites()
    w = start(writes, PLAN)
    writes.release.clear()  # the first commit will wait in flight
    w.add([draft(0)], generated=1, rejected=0)
    for n in range(1, 4):
        w.add([draft(n)], generated=1, rejected=0)
    writes.release.set()
    w.close()
    assert [len(batch) for batch in writes.questions] in ([1, 3], [4])


def test_the_plan_goes_to_the_job_at_once_and_later_counts_wait_for_the_interval() -> None:
    writes, clock = RecordingWrites(), Clock()
    w = start(writes, clock=clock)  # a fresh job: the plan comes from the stream
    w.set_plan(PLAN)
    assert writes.progressed.acquire(timeout=5), "the plan is written at once"
    w.add([draft(0)], generated=2, rejected=1)
    assert writes.committed.acquire(timeout=5)
    w.close()  # time stood still: no second job write; the attempt's end counts the documents
    assert len(writes.progress) == 1
    assert writes.progress[0]["plan"] == PLAN


def test_a_planned_job_writes_its_counts_once_the_interval_has_passed() -> None:
    writes, clock = RecordingWrites(), Clock()
    w = start(writes, PLAN, clock)
    w.add([draft(0)], generated=2, rejected=1)
    assert writes.committed.acquire(timeout=5)
    assert writes.progressed.acquire(timeout=5), "the first counts are due at once"
    clock.now += 1.0
    w.add([draft(1)], generated=1, rejected=0)  # wakes the writer; the interval has passed
    assert writes.committed.acquire(timeout=5)
    assert writes.progressed.acquire(timeout=5), "and the next an interval later"
    w.close()
    last = writes.progress[-1]
    assert last["plan"] is None  # an earlier attempt fixed it
    assert last["question_ids"][0] == "job1-q000"
    assert (last["generated"], last["rejected"]) == (6, 2)  # over all attempts


def test_a_stop_found_by_a_commit_stops_the_writer_and_close_raises_it_once() -> None:
    writes = RecordingWrites(stop_after=1)
    w = start(writes, PLAN)
    w.add([draft(0)], generated=1, rejected=0)
    assert writes.committed.acquire(timeout=5)
    w.add([draft(1)], generated=1, rejected=0)
    with pytest.raises(AttemptStoppedError) as exc:
        w.close()
    assert exc.value.reason is StopReason.CANCELLED
    assert w.stopped
    assert writes.questions == [["job1-q001"]]


def test_store_errors_reach_the_reader() -> None:
    w = start(RecordingWrites(error=RuntimeError("firestore down")), PLAN)
    w.add([draft(0)], generated=1, rejected=0)
    with pytest.raises(RuntimeError, match="firestore down"):
        w.close()


def test_a_due_job_document_goes_in_the_question_commit_not_one_of_its_own() -> None:
    writes, clock = RecordingWrites(), Clock()
    w = start(writes, PLAN, clock)
    w.add([draft(0)], generated=2, rejected=1)
    assert writes.committed.acquire(timeout=5)
    clock.now += 1.0
    w.add([draft(1)], generated=1, rejected=0)
    assert writes.committed.acquire(timeout=5)
    w.close()
    assert writes.with_questions == [0, 1], "each progress write rode with questions"
    assert w.commits == 2
    assert writes.progress[-1]["question_ids"] == [question_id("job1", i) for i in range(3)]
