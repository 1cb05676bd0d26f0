"""The unit of work's transaction, begun by its first read, on the emulator: two round trips,
the same locks as one begun apart, nothing left locked by a body that fails."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from google.cloud import firestore
from qgen.adapters.firestore.lazy_transaction import LazyTransaction
from qgen.adapters.firestore.unit_of_work import FirestoreUnitOfWork
from qgen.domain.questions import QuestionDraft, SavedQuestion

from benchmarks.firestore_traffic import CountedClient, RpcCounter
from tests.conftest import PROJECT_ID
from tests.support.questions import item

pytestmark = pytest.mark.integration


@pytest.fixture
def counted(db: Any) -> tuple[firestore.Client, RpcCounter]:
    counter = RpcCounter()
    return CountedClient(project=PROJECT_ID, counter=counter), counter


def test_a_read_then_write_is_two_round_trips(counted: tuple[Any, RpcCounter]) -> None:
    client, counter = counted
    client.collection("jobs").document("j").set({"status": "running"})
    mark = counter.mark()

    tx = LazyTransaction(client)
    (job,) = tx.read([client.collection("jobs").document("j")])
    tx.set(client.collection("questions").document("j_0"), {"status": job.get("status")})
    tx.finish()

    assert [r.method for r in counter.since(mark)] == ["BatchGetDocuments", "Commit"]
    assert all(r.ok for r in counter.since(mark))
    assert client.collection("questions").document("j_0").get().to_dict() == {"status": "running"}


def test_reads_report_missing_documents_and_a_write_only_body_is_one_commit(
    counted: tuple[Any, RpcCounter],
) -> None:
    client, counter = counted
    tx = LazyTransaction(client)
    found = tx.read([client.collection("jobs").document(d) for d in ("a", "b")])
    assert sorted((s.id, s.exists) for s in found) == [("a", False), ("b", False)]
    tx.finish()  # read-only: commits nothing, releases the locks
    mark = counter.mark()

    writes_only = LazyTransaction(client)
    writes_only.set(client.collection("jobs").document("a"), {"n": 1})
    writes_only.finish()

    assert [r.method for r in counter.since(mark)] == ["Commit"]
    assert client.collection("jobs").document("a").get().to_dict() == {"n": 1}


def test_a_read_in_the_transaction_fences_a_concurrent_writer(db: Any) -> None:
    """The worker's fence: a question commit that read the job is never overtaken by a cancel
    that commits in between (the cancel waits for the read lock, or the reader aborts)."""
    job = db.collection("jobs").document("j")
    job.set({"status": "running"})
    read_done, cancelled_at = threading.Event(), []

    def cancel() -> None:
        read_done.wait(10)
        cancelled_at.append(job.update({"status": "cancelled"}).update_time)

    canceller = threading.Thread(target=cancel)
    canceller.start()
    tx = LazyTransaction(db)
    (seen,) = tx.read([job])
    read_done.set()
    time.sleep(0.3)  # the cancel is now waiting on the job's lock
    tx.set(db.collection("questions").document("j_0"), {"seen": seen.get("status")})
    tx.finish()
    canceller.join(10)

    assert seen.get("status") == "running"
    assert tx.commit_time is not None
    assert cancelled_at
    assert tx.commit_time < cancelled_at[0]


def test_a_body_that_fails_leaves_nothing_written_or_locked(db: Any) -> None:
    job = db.collection("jobs").document("j")
    job.set({"status": "running"})
    uow = FirestoreUnitOfWork(db)

    def body(tx: Any) -> None:
        tx.get_job("j")
        tx.put_question("j_0", _question())
        raise RuntimeError("the body gave up")

    with pytest.raises(RuntimeError):
        uow.run(body)

    started = time.monotonic()
    job.update({"status": "cancelled"})  # would wait out the lock if it were still held
    assert time.monotonic() - started < 1.0
    assert not db.collection("questions").document("j_0").get().exists


def test_a_read_after_a_write_is_refused(db: Any) -> None:
    tx = LazyTransaction(db)
    tx.set(db.collection("jobs").document("a"), {"n": 1})
    with pytest.raises(ValueError, match="reads before it writes"):
        tx.read([db.collection("jobs").document("a")])


def _question() -> SavedQuestion:
    draft = QuestionDraft.model_validate(item(0))
    return SavedQuestion.of(draft, job_id="j", user_id="u", topic="t", now=datetime.now(UTC))
