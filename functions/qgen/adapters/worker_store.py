"""Firestore writes of the worker: the lease, question batches, the end of an attempt.

Every method after ``claim`` is a transaction that re-reads the job and writes only while the
caller still holds the lease (same fencing token, status still processing). A cancelled job,
or a lease taken over by another delivery, makes it write nothing and say so.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from google.cloud import firestore

from ..domain.cards import new_card_fields
from ..domain.failures import Failure
from ..domain.jobs import Job, JobPhase, JobStatus, Usage
from ..domain.questions import QuestionDraft
from .firestore_store import FirestoreStore, StoredJob, _job_from

QUESTIONS = "questions"


class ClaimKind(StrEnum):
    CLAIMED = "claimed"
    DUPLICATE = "duplicate"  # another delivery holds a live lease
    TERMINAL = "terminal"  # completed, failed or cancelled: nothing to do
    MISSING = "missing"


@dataclass(frozen=True)
class Lease:
    job_id: str
    token: str
    attempt: int


@dataclass(frozen=True)
class Claim:
    kind: ClaimKind
    stored: StoredJob | None = None
    lease: Lease | None = None


class WriteOutcome(StrEnum):
    WRITTEN = "written"
    CANCELLED = "cancelled"
    LEASE_LOST = "lease_lost"


@dataclass(frozen=True)
class BatchResult:
    outcome: WriteOutcome
    saved_total: int = 0


def question_id(job_id: str, position: int) -> str:
    """Deterministic per job and position: a redelivered batch rewrites, never duplicates."""
    return f"{job_id}-q{position:03d}"


class WorkerStore(FirestoreStore):
    def __init__(
        self, client: firestore.Client, *, lease_seconds: int, transaction_max_attempts: int = 12
    ) -> None:
        super().__init__(client, transaction_max_attempts=transaction_max_attempts)
        self._lease = timedelta(seconds=lease_seconds)

    def _question_ref(self, qid: str) -> Any:
        return self._db.collection(QUESTIONS).document(qid)

    # ----- lease ---------------------------------------------------------------------------

    def claim(self, job_id: str, *, now: datetime) -> Claim:
        ref = self._job_ref(job_id)

        def body(transaction: Any) -> Claim:
            snapshot = ref.get(transaction=transaction)
            if not snapshot.exists:
                return Claim(ClaimKind.MISSING)
            job = _job_from(snapshot)
            stored = StoredJob(job_id, job)
            if job.status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED):
                return Claim(ClaimKind.TERMINAL, stored)
            lease_live = job.lease_expires_at is not None and job.lease_expires_at > now
            if job.status is JobStatus.PROCESSING and lease_live:
                return Claim(ClaimKind.DUPLICATE, stored)
            if job.status is JobStatus.PENDING:
                self._release_or_take_slot(transaction, job, JobStatus.PROCESSING, now)
            token = uuid.uuid4().hex
            updates: dict[str, object] = {
                "status": JobStatus.PROCESSING.value,
                "attempts": job.attempts + 1,
                "leaseToken": token,
                "leaseExpiresAt": now + self._lease,
                "phase": (
                    JobPhase.GENERATING if job.estimated_total else JobPhase.CLARIFYING
                ).value,
            }
            if job.started_at is None:
                updates["startedAt"] = now
            transaction.update(ref, updates)
            updated = Job.model_validate({**job.model_dump(by_alias=True), **updates})
            return Claim(
                ClaimKind.CLAIMED,
                StoredJob(job_id, updated),
                Lease(job_id, token, job.attempts + 1),
            )

        return self._run(body)

    def _guarded(self, lease: Lease, write: Any, *, now: datetime) -> tuple[WriteOutcome, Any]:
        """Run ``write(transaction, job)`` only while ``lease`` is still held."""
        ref = self._job_ref(lease.job_id)

        def body(transaction: Any) -> tuple[WriteOutcome, Any]:
            snapshot = ref.get(transaction=transaction)
            if not snapshot.exists:
                return WriteOutcome.LEASE_LOST, None
            job = _job_from(snapshot)
            if job.status is JobStatus.CANCELLED:
                return WriteOutcome.CANCELLED, None
            if job.status is not JobStatus.PROCESSING or job.lease_token != lease.token:
                return WriteOutcome.LEASE_LOST, None
            return WriteOutcome.WRITTEN, write(transaction, ref, job)

        result: tuple[WriteOutcome, Any] = self._run(body)
        return result

    # ----- progress ------------------------------------------------------------------------

    def set_plan(
        self, lease: Lease, *, topic: str, estimated_total: int, now: datetime
    ) -> WriteOutcome:
        def write(transaction: Any, ref: Any, job: Job) -> None:
            transaction.update(
                ref,
                {
                    "topic": topic,
                    "estimatedTotal": estimated_total,
                    "phase": JobPhase.GENERATING.value,
                    "leaseExpiresAt": now + self._lease,
                },
            )

        outcome, _ = self._guarded(lease, write, now=now)
        return outcome

    def save_batch(
        self,
        lease: Lease,
        drafts: list[QuestionDraft],
        *,
        generated: int,
        rejected: int,
        now: datetime,
        finalizing: bool = False,
    ) -> BatchResult:
        """Questions and progress in one commit; an empty batch is a lease heartbeat."""

        def write(transaction: Any, ref: Any, job: Job) -> int:
            ids = []
            for offset, draft in enumerate(drafts):
                qid = question_id(lease.job_id, job.questions_saved + offset)
                ids.append(qid)
                transaction.set(
                    self._question_ref(qid), _question_document(lease.job_id, job, draft, now)
                )
            updates: dict[str, object] = {
                "questionsSaved": job.questions_saved + len(drafts),
                "questionsGenerated": job.questions_generated + generated,
                "questionsRejected": job.questions_rejected + rejected,
                "leaseExpiresAt": now + self._lease,
            }
            if ids:
                updates["questionIds"] = firestore.ArrayUnion(ids)
            if finalizing:
                updates["phase"] = JobPhase.FINALIZING.value
            transaction.update(ref, updates)
            return job.questions_saved + len(drafts)

        outcome, total = self._guarded(lease, write, now=now)
        return BatchResult(outcome, total or 0)

    def saved_questions(self, job_id: str, question_ids: list[str]) -> list[str]:
        """Texts of the questions a job already saved (for a resumed attempt)."""
        if not question_ids:
            return []
        refs = [self._question_ref(qid) for qid in question_ids]
        texts = {
            s.id: str((s.to_dict() or {}).get("question", ""))
            for s in self._db.get_all(refs)
            if s.exists
        }
        return [texts[qid] for qid in question_ids if qid in texts]

    # ----- end of an attempt ---------------------------------------------------------------

    def complete(
        self,
        lease: Lease,
        *,
        now: datetime,
        usage: Usage | None,
        model: str,
    ) -> WriteOutcome:
        def write(transaction: Any, ref: Any, job: Job) -> None:
            self._release_or_take_slot(transaction, job, JobStatus.COMPLETED, now)
            started = job.started_at or job.created_at
            updates: dict[str, object] = {
                "status": JobStatus.COMPLETED.value,
                "phase": JobPhase.FINALIZING.value,
                "completedAt": now,
                "durationMs": int((now - started).total_seconds() * 1000),
                "model": model,
                "leaseExpiresAt": firestore.DELETE_FIELD,
                "leaseToken": firestore.DELETE_FIELD,
            }
            if usage is not None:
                updates["usage"] = _added_usage(job.usage, usage)
            transaction.update(ref, updates)

        outcome, _ = self._guarded(lease, write, now=now)
        return outcome

    def record_failure(
        self,
        lease: Lease,
        failure: Failure,
        *,
        final: bool,
        now: datetime,
        usage: Usage | None = None,
    ) -> WriteOutcome:
        """A final failure ends the job (slot released); otherwise it waits for redelivery."""

        def write(transaction: Any, ref: Any, job: Job) -> None:
            target = JobStatus.FAILED if final else JobStatus.PENDING
            self._release_or_take_slot(transaction, job, target, now)
            updates: dict[str, object] = {
                "status": target.value,
                "lastErrorCode": failure.code.value,
                "errorMessage": failure.message,
                "leaseExpiresAt": firestore.DELETE_FIELD,
                "leaseToken": firestore.DELETE_FIELD,
            }
            if not final:
                updates["enqueuedAt"] = now  # Cloud Tasks redelivers from now on
            if final:
                updates |= {
                    "errorCode": failure.code.value,
                    "retryable": failure.retryable,
                    "completedAt": now,
                }
            if usage is not None:
                updates["usage"] = _added_usage(job.usage, usage)
            transaction.update(ref, updates)

        outcome, _ = self._guarded(lease, write, now=now)
        return outcome


def _added_usage(previous: Usage | None, usage: Usage) -> dict[str, int]:
    """Token use summed over every attempt of the job."""
    before = previous or Usage()
    return {
        "promptTokens": before.prompt_tokens + usage.prompt_tokens,
        "outputTokens": before.output_tokens + usage.output_tokens,
    }


def _question_document(
    job_id: str, job: Job, draft: QuestionDraft, now: datetime
) -> dict[str, Any]:
    return {
        "userId": job.user_id,
        "generationJobId": job_id,
        "topic": job.topic or "",
        "question": draft.question,
        "type": draft.type.value,
        "options": list(draft.options),
        "correctAnswer": draft.correct_answer,
        "explanation": draft.explanation,
        "generatedAt": now,
        "updatedAt": now,
        **new_card_fields(now),
    }
