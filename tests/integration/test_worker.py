"""The worker against the Firestore emulator and the offline model server (real google-genai)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from google.cloud.firestore import FieldFilter
from qgen.adapters.clock import utc_now
from qgen.adapters.firestore.names import ACTIVE_COUNTERS, JOBS, QUESTIONS
from qgen.adapters.gemini import GeminiModel, thinking_config
from qgen.config import Settings
from qgen.domain.jobs import question_id
from qgen.domain.questions import normalise_question_text
from qgen.services.jobs import CreateRequest, JobService
from qgen.services.worker import DeliveryResult, WorkerService

from dev.model_server.client import AdminClient
from tests.conftest import PROJECT_ID
from tests.support.backends import FirestoreBackend
from tests.support.fakes import InMemoryTaskQueue
from tests.support.faults import invalid_items

pytestmark = pytest.mark.integration


def settings(**overrides: Any) -> Settings:
    return Settings(project_id=PROJECT_ID, **overrides)


def make_worker(db: Any, model_url: str, **overrides: Any) -> WorkerService:
    s = settings(**{"progress_write_interval_seconds": 0.2, **overrides})
    backend = FirestoreBackend(db)
    model = GeminiModel(
        api_key="",
        base_url=model_url,
        model=s.gemini_model,
        timeout_seconds=s.model_timeout_seconds,
        thinking=thinking_config(s.gemini_thinking_budget, s.gemini_thinking_level),
        fallback_model=s.gemini_fallback_model,
    )
    return WorkerService(
        uow=backend.uow, reader=backend.reader, model=model, settings=s, clock=utc_now
    )


def jobs_service(db: Any) -> JobService:
    return jobs_service_with(db, InMemoryTaskQueue())


def jobs_service_with(db: Any, queue: InMemoryTaskQueue) -> JobService:
    backend = FirestoreBackend(db)
    return JobService(
        uow=backend.uow, reader=backend.reader, queue=queue, settings=settings(), clock=utc_now
    )


def new_job(db: Any, prompt: str = "NATO alphabet", user: str = "alice") -> str:
    request = CreateRequest(user_id=user, prompt=prompt, client_ip="203.0.113.1")
    return jobs_service(db).create(request).stored.job_id


def job(db: Any, job_id: str) -> dict[str, Any]:
    return dict(db.collection(JOBS).document(job_id).get().to_dict())


def questions(db: Any, job_id: str) -> list[dict[str, Any]]:
    query = db.collection(QUESTIONS).where(filter=FieldFilter("generationJobId", "==", job_id))
    return [dict(s.to_dict(), id=s.id) for s in query.stream()]


def active(db: Any, user: str = "alice") -> int:
    snap = db.collection(ACTIVE_COUNTERS).document(user).get()
    return int(snap.to_dict()["activeJobs"]) if snap.exists else 0


def assert_consistent(db: Any, job_id: str) -> dict[str, Any]:
    """questionsSaved == question docs == questionIds, ids in order, no repeated text."""
    doc = job(db, job_id)
    saved = questions(db, job_id)
    assert doc["questionsSaved"] == len(saved) == len(doc["questionIds"])
    assert sorted(doc["questionIds"]) == sorted(q["id"] for q in saved)
    assert doc["questionIds"] == [question_id(job_id, i) for i in range(len(saved))]
    texts = [normalise_question_text(q["question"]) for q in saved]
    assert len(set(texts)) == len(texts), "a question was saved twice"
    return doc


# ----- happy path --------------------------------------------------------------------------


def test_job_completes_with_every_question_saved_as_an_fsrs_card(
    db: Any, model_server_url: str, model_admin: AdminClient
) -> None:
    job_id = new_job(db)
    result = make_worker(db, model_server_url).process(job_id)
    assert result == DeliveryResult("completed", job_id)
    doc = assert_consistent(db, job_id)
    assert doc["status"] == "completed"
    assert doc["phase"] == "finalizing"
    assert doc["estimatedTotal"] == doc["questionsSaved"] > 0
    assert doc["questionsGenerated"] == doc["questionsSaved"]
    assert doc["questionsRejected"] == 0
    assert "NATO" in doc["topic"]
    assert doc["attempts"] == 1
    assert doc["model"] == "gemini-2.5-flash"
    assert doc["usage"]["promptTokens"] > 0
    assert doc["usage"]["outputTokens"] > 0
    # Usage reports in a stream are cumulative: the job keeps the last, not their sum
    # (summing ~hundreds of chunk reports would give ~100x the ~2,500 tokens of 40 questions).
    assert doc["usage"]["outputTokens"] < 40 * 200
    assert doc["durationMs"] >= 0
    assert doc["completedAt"] >= doc["startedAt"]
    assert "leaseToken" not in doc
    assert active(db) == 0
    for q in questions(db, job_id):
        assert q["userId"] == "alice"
        assert q["topic"] == doc["topic"]
        assert q["type"] in ("multiple-choice", "true-false")
        assert q["correctAnswer"] in q["options"]
        assert q["explanation"]
        assert q["state"] == 1
        assert q["step"] == 0
        assert q["due"] <= datetime.now(UTC)
        assert q["stability"] is None
        assert (q["reps"], q["lapses"], q["attemptCount"], q["correctCount"]) == (0, 0, 0, 0)
    stats = model_admin.stats()
    assert stats["generateContent"] == 0, "one model call: the plan streams first"
    assert stats["streamGenerateContent"] == 1


def test_deliveries_for_missing_or_finished_jobs_are_acknowledged(
    db: Any, model_server_url: str, model_admin: AdminClient
) -> None:
    worker = make_worker(db, model_server_url)
    assert worker.process("no-such-job").outcome == "missing"
    job_id = new_job(db)
    assert worker.process(job_id).outcome == "completed"
    again = worker.process(job_id)
    assert again.outcome == "terminal"
    assert not again.retry
    assert model_admin.stats()["streamGenerateContent"] == 1


def test_five_concurrent_deliveries_run_the_model_once(
    db: Any, model_server_url: str, model_admin: AdminClient
) -> None:
    model_admin.config(paceMs=5)
    job_id = new_job(db)
    workers = [make_worker(db, model_server_url) for _ in range(5)]
    with ThreadPoolExecutor(max_workers=5) as pool:
        results = list(pool.map(lambda w: w.process(job_id), workers))
    outcomes = sorted(r.outcome for r in results)
    assert outcomes.count("completed") == 1, outcomes
    assert set(outcomes) <= {"completed", "duplicate", "terminal"}
    stats = model_admin.stats()
    assert stats["generateContent"] == 0
    assert stats["streamGenerateContent"] == 1
    assert assert_consistent(db, job_id)["status"] == "completed"


# ----- cancellation ------------------------------------------------------------------------


def test_cancel_mid_stream_keeps_the_partial_questions_and_writes_nothing_after(
    db: Any, model_server_url: str, model_admin: AdminClient
) -> None:
    model_admin.config(paceMs=40)
    job_id = new_job(db)
    worker = make_worker(db, model_server_url)
    outcome: list[DeliveryResult] = []
    thread = threading.Thread(target=lambda: outcome.append(worker.process(job_id)))
    thread.start()
    deadline = time.monotonic() + 30
    while job(db, job_id).get("questionsSaved", 0) < 2:
        assert time.monotonic() < deadline, "no question was saved"
        time.sleep(0.05)
    cancelled = jobs_service(db).cancel("alice", job_id)
    saved_at_cancel = job(db, job_id)["questionsSaved"]
    thread.join(timeout=30)
    assert outcome[0].outcome == "cancelled"
    doc = assert_consistent(db, job_id)
    assert doc["status"] == "cancelled"
    assert doc["questionsSaved"] == saved_at_cancel
    assert 2 <= saved_at_cancel < doc["estimatedTotal"]
    assert all(q["generatedAt"] <= cancelled.job.completed_at for q in questions(db, job_id))
    assert active(db) == 0


# ----- faults ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ({"kind": "http_error", "call": "stream", "code": 429}, "RATE_LIMIT"),
        ({"kind": "http_error", "call": "stream", "code": 500}, "SERVER_ERROR"),
        ({"kind": "http_error", "call": "stream", "code": 503}, "SERVER_ERROR"),
        ({"kind": "drop", "call": "stream", "afterQuestions": 3}, "NETWORK"),
        ({"kind": "truncate", "call": "stream", "afterQuestions": 3}, "TRUNCATED"),
        ({"kind": "max_tokens", "call": "stream", "afterQuestions": 3}, "TRUNCATED"),
        ({"kind": "bad_json", "call": "stream", "afterQuestions": 2}, "SCHEMA_VALIDATION"),
    ],
)
def test_transient_faults_hand_the_job_back_for_redelivery(
    db: Any, model_server_url: str, model_admin: AdminClient, fault: dict[str, Any], code: str
) -> None:
    job_id, result, doc = deliver_with_fault(db, model_server_url, model_admin, fault)
    assert result.outcome == "retrying"
    assert result.retry, "Cloud Tasks must be asked to deliver again"
    assert doc["status"] == "pending"
    assert doc["lastErrorCode"] == code
    assert doc["attempts"] == 1
    assert "errorCode" not in doc
    assert active(db) == 1, "a job waiting for redelivery keeps its slot"
    # The redelivery resumes and completes.
    assert make_worker(db, model_server_url).process(job_id).outcome == "completed"
    doc = assert_consistent(db, job_id)
    assert doc["status"] == "completed"
    assert doc["attempts"] == 2
    assert active(db) == 0


def deliver_with_fault(
    db: Any, model_url: str, admin: AdminClient, fault: dict[str, Any]
) -> tuple[str, DeliveryResult, dict[str, Any]]:
    """One delivery of a new job with ``fault`` armed: the job, the result, its checked doc."""
    admin.add_faults(fault)
    job_id = new_job(db)
    result = make_worker(db, model_url).process(job_id)
    return job_id, result, assert_consistent(db, job_id)


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ({"kind": "api_key_invalid", "call": "stream"}, "API_KEY"),
        ({"kind": "http_error", "call": "stream", "code": 401}, "API_KEY"),
        ({"kind": "http_error", "call": "stream", "code": 403}, "API_KEY"),
        ({"kind": "safety", "call": "stream", "afterQuestions": 2}, "CONTENT_BLOCKED"),
        ({"kind": "blocked_prompt", "call": "stream"}, "CONTENT_BLOCKED"),
    ],
)
def test_permanent_faults_fail_the_job_at_once(
    db: Any, model_server_url: str, model_admin: AdminClient, fault: dict[str, Any], code: str
) -> None:
    _, result, doc = deliver_with_fault(db, model_server_url, model_admin, fault)
    assert result.outcome == "failed"
    assert not result.retry
    assert doc["status"] == "failed"
    assert doc["errorCode"] == code
    assert doc["retryable"] is False
    assert doc["errorMessage"]
    assert "AIza" not in doc["errorMessage"]
    assert active(db) == 0


def test_retryable_fault_on_the_last_attempt_is_final(
    db: Any, model_server_url: str, model_admin: AdminClient
) -> None:
    model_admin.add_faults({"kind": "http_error", "call": "stream", "code": 429})
    job_id = new_job(db)
    result = make_worker(db, model_server_url, max_attempts=1).process(job_id)
    assert result.outcome == "failed"
    doc = job(db, job_id)
    assert doc["errorCode"] == "RATE_LIMIT"
    assert doc["retryable"] is True
    assert active(db) == 0


def test_a_stalled_stream_times_out_as_a_network_failure(
    db: Any, model_server_url: str, model_admin: AdminClient
) -> None:
    model_admin.add_faults({"kind": "stall", "call": "stream", "afterQuestions": 2, "seconds": 5})
    job_id = new_job(db)
    started = time.monotonic()
    result = make_worker(db, model_server_url, model_timeout_seconds=1.0).process(job_id)
    assert time.monotonic() - started < 4.5
    assert result.outcome == "retrying"
    assert job(db, job_id)["lastErrorCode"] == "NETWORK"
    # The second item's closing brace came before the stall: both were saved.
    assert assert_consistent(db, job_id)["questionsSaved"] == 2


def test_resumed_attempt_continues_the_numbering_without_repeats(
    db: Any, model_server_url: str, model_admin: AdminClient
) -> None:
    model_admin.add_faults({"kind": "drop", "call": "stream", "afterQuestions": 4})
    job_id = new_job(db)
    make_worker(db, model_server_url).process(job_id)
    first = assert_consistent(db, job_id)
    # Four items were whole (closing brace sent) when the connection dropped.
    assert first["questionsSaved"] == 4
    saved_texts = [q["question"] for q in questions(db, job_id)]
    assert make_worker(db, model_server_url).process(job_id).outcome == "completed"
    doc = assert_consistent(db, job_id)
    assert doc["questionsSaved"] == doc["estimatedTotal"]
    assert doc["questionIds"][:4] == first["questionIds"]
    stats = model_admin.stats()
    assert stats["generateContent"] == 0, "one streaming call per attempt, no separate plan"
    assert stats["streamGenerateContent"] == 2
    first_request, resumed = model_admin.requests()
    assert first_request["maxCount"] == 40
    assert first_request["schemaRoot"] == "object"
    assert resumed["count"] == doc["estimatedTotal"] - 4, "only the remaining questions"
    assert resumed["maxCount"] is None, "the plan is fixed: no new plan asked for"
    assert resumed["existingQuestions"] == saved_texts, "the model is told which exist"


def test_invalid_items_are_rejected_counted_and_never_saved(
    db: Any, model_server_url: str, model_admin: AdminClient
) -> None:
    model_admin.add_faults(
        invalid_items(
            (1, "three_options"),
            (2, "answer_not_in_options"),
            (3, "empty_question"),
            (4, "duplicate", 0),
            call="stream",
        )
    )
    job_id = new_job(db)
    worker = make_worker(db, model_server_url)
    # Short of its plan after throwing items away: the next attempt asks for the rest.
    assert worker.process(job_id).outcome == "retrying"
    assert worker.process(job_id).outcome == "completed"
    doc = assert_consistent(db, job_id)
    assert doc["questionsSaved"] == doc["estimatedTotal"]
    assert doc["questionsRejected"] == 4
    assert doc["questionsGenerated"] == doc["questionsSaved"] + 4


def test_an_unknown_topic_fails_with_the_models_explanation(
    db: Any, model_server_url: str, model_admin: AdminClient
) -> None:
    job_id = new_job(db, prompt="Medieval Hungarian poetry")
    result = make_worker(db, model_server_url).process(job_id)
    assert result.outcome == "failed"
    doc = job(db, job_id)
    assert doc["errorCode"] == "UNKNOWN"
    assert doc["retryable"] is False
    assert "NATO" in doc["errorMessage"]
    assert questions(db, job_id) == []


# ----- the learner's retry -----------------------------------------------------------------


def test_learner_retry_reruns_a_failed_retryable_job_as_a_new_run(
    db: Any, model_server_url: str, model_admin: AdminClient
) -> None:
    model_admin.add_faults({"kind": "drop", "call": "stream", "afterQuestions": 3})
    job_id = new_job(db)
    make_worker(db, model_server_url, max_attempts=1).process(job_id)
    assert job(db, job_id)["status"] == "failed"
    queue = InMemoryTaskQueue()

    service = jobs_service_with(db, queue)
    retried = service.retry("alice", job_id, "203.0.113.1")
    assert retried.job.status.value == "pending"
    assert retried.job.run == 1
    assert queue.tasks == {f"{job_id}-run1": job_id}
    doc = job(db, job_id)
    assert "errorCode" not in doc
    assert doc["attempts"] == 0
    assert active(db) == 1
    assert make_worker(db, model_server_url).process(job_id).outcome == "completed"
    assert assert_consistent(db, job_id)["questionsSaved"] == doc["estimatedTotal"]


def test_each_state_transition_is_one_structured_log_event(
    db: Any, model_server_url: str, model_admin: AdminClient, caplog: pytest.LogCaptureFixture
) -> None:
    import json
    import logging

    from qgen.logs import CloudLoggingFormatter

    model_admin.add_faults({"kind": "http_error", "call": "stream", "code": 503})
    caplog.set_level(logging.INFO, logger="qgen")
    job_id = new_job(db)
    make_worker(db, model_server_url).process(job_id)
    make_worker(db, model_server_url).process(job_id)
    formatter = CloudLoggingFormatter(PROJECT_ID)
    entries = [json.loads(formatter.format(r)) for r in caplog.records if getattr(r, "jobId", None)]
    events = [e["event"] for e in entries if e["jobId"] == job_id]
    assert events == [
        "job.created",
        "job.processing",
        "job.retrying",
        "job.processing",
        "job.completed",
    ]
    retrying = next(e for e in entries if e["event"] == "job.retrying")
    assert retrying["severity"] == "WARNING"
    assert (retrying["errorCode"], retrying["attempt"]) == ("SERVER_ERROR", 1)
    completed = next(e for e in entries if e["event"] == "job.completed")
    assert completed["attempt"] == 2
    assert completed["userId"] == "alice"
    assert completed["durationMs"] >= 0
    assert completed["usage"]["outputTokens"] > 0
    assert completed["questionsSaved"] == 40
    assert completed["questionsRejected"] == 0
    assert "offline" not in json.dumps(entries), "no key material in the logs"


# ----- the plan and its cap --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "cap", "planned"),
    [("NATO alphabet", 20, 20), ("NATO alphabet, 10 questions please", 40, 10)],
)
def test_a_model_that_streams_more_than_it_planned_is_cut_at_the_plan(
    db: Any, model_server_url: str, model_admin: AdminClient, prompt: str, cap: int, planned: int
) -> None:
    model_admin.add_faults({"kind": "over_deliver", "call": "stream", "extra": 20})
    job_id = new_job(db, prompt=prompt)
    result = make_worker(db, model_server_url, max_questions_per_job=cap).process(job_id)
    assert result.outcome == "completed"
    doc = assert_consistent(db, job_id)
    assert doc["estimatedTotal"] == planned
    assert doc["questionsSaved"] == planned, "never more than the plan"
    (request,) = model_admin.requests()
    assert request["maxCount"] == cap
    assert request["maxItems"] == cap, "the schema tells the model the most it may write"


@pytest.mark.parametrize(("budget", "level"), [(0, None), (512, None), (None, "low")])
def test_the_thinking_setting_reaches_the_model(
    db: Any,
    model_server_url: str,
    model_admin: AdminClient,
    budget: int | None,
    level: str | None,
) -> None:
    job_id = new_job(db)
    worker = make_worker(
        db, model_server_url, gemini_thinking_budget=budget, gemini_thinking_level=level
    )
    assert worker.process(job_id).outcome == "completed"
    (request,) = model_admin.requests()
    assert request["thinkingBudget"] == (None if level else budget)
    assert (request["thinkingLevel"] or "").lower() == (level or "")


# ----- quota-aware retries and the fallback model ---------------------------------------------


def test_a_429s_retry_info_sets_the_wait_before_the_next_attempt(
    db: Any, model_server_url: str, model_admin: AdminClient
) -> None:
    model_admin.add_faults(
        {"kind": "http_error", "call": "stream", "code": 429, "retryDelay": "17s"}
    )
    job_id = new_job(db)
    queue = InMemoryTaskQueue()
    worker = make_worker(db, model_server_url)
    worker.queue = queue
    result = worker.process(job_id)
    assert (result.outcome, result.error_code) == ("rescheduled", "RATE_LIMIT")
    assert queue.delays == {f"{job_id}-run1": 17.0}
    doc = job(db, job_id)
    assert (doc["status"], doc["run"], doc["lastErrorCode"]) == ("pending", 1, "RATE_LIMIT")


@pytest.mark.parametrize(
    ("fault", "outcome", "model"),
    [
        ({"kind": "http_error", "code": 429}, "completed", "gemini-2.5-flash-lite"),
        ({"kind": "http_error", "code": 503}, "completed", "gemini-2.5-flash-lite"),
        ({"kind": "api_key_invalid"}, "failed", None),  # another model would not help
    ],
)
def test_the_fallback_model_answers_when_the_primary_is_rate_limited_or_failing(
    db: Any,
    model_server_url: str,
    model_admin: AdminClient,
    fault: dict[str, Any],
    outcome: str,
    model: str | None,
) -> None:
    model_admin.add_faults({**fault, "call": "stream", "model": "gemini-2.5-flash", "times": 9})
    job_id = new_job(db)
    worker = make_worker(db, model_server_url, gemini_fallback_model="gemini-2.5-flash-lite")
    assert worker.process(job_id).outcome == outcome
    doc = assert_consistent(db, job_id)
    assert doc.get("model") == model, "the job records the model that answered"
    asked = [r["model"] for r in model_admin.requests()]
    expected = ["gemini-2.5-flash", "gemini-2.5-flash-lite"] if model else ["gemini-2.5-flash"]
    assert asked == expected


def test_the_completion_counts_from_what_the_attempt_committed(
    db: Any, model_server_url: str, model_admin: AdminClient
) -> None:
    """A job document written only at its start (progress never came due) still ends with one
    question document read to count them, not every position of the plan."""
    from benchmarks.firestore_traffic import CountedClient, RpcCounter

    counter = RpcCounter()
    counted = CountedClient(project=PROJECT_ID, counter=counter)
    job_id = new_job(db)
    worker = make_worker(counted, model_server_url, progress_write_interval_seconds=3600)
    assert worker.process(job_id).outcome == "completed"

    doc = assert_consistent(db, job_id)
    assert doc["questionsSaved"] == doc["estimatedTotal"] > 1
    reads = [r for r in counter.rpcs if r.method == "BatchGetDocuments"]
    # The claim, each fenced commit and the completion read the job; the completion reads
    # one question document besides (the last position the attempt committed).
    assert max(r.docs_found + r.docs_missing for r in reads) == 1
