"""The worker's use case: run one delivery of a job, from lease to completion or failure."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Protocol

from ..adapters.clock import Clock
from ..adapters.gemini import StreamChunk, stream_outcome
from ..adapters.worker_store import ClaimKind, Lease, WorkerStore, WriteOutcome
from ..config import Settings
from ..domain.failures import FailureCode, ModelError, failure_for, is_final
from ..domain.jobs import Job, Usage
from ..domain.prompts import ClarifiedIntent, clamp_count
from ..domain.questions import (
    AcceptedItem,
    ParsedItem,
    StreamFormatError,
    StreamParser,
    normalise_question_text,
)
from .progress_writer import ProgressWriter

log = logging.getLogger(__name__)


class Model(Protocol):
    model: str

    def clarify(self, learner_prompt: str) -> tuple[ClarifiedIntent, Usage | None]: ...

    def stream_questions(
        self, learner_prompt: str, *, topic: str, count: int, existing: list[str]
    ) -> Generator[StreamChunk, None, None]: ...


@dataclass
class DeliveryResult:
    """What one delivery did. ``retry`` asks Cloud Tasks to deliver again (non-2xx)."""

    outcome: str
    job_id: str
    retry: bool = False
    detail: dict[str, object] = field(default_factory=dict)


class _AttemptTotals:
    """Token use and question counts of one attempt, for its log event."""

    def __init__(self) -> None:
        self.prompt_tokens = 0
        self.output_tokens = 0
        self.seen = False
        self.questions_saved = 0
        self.questions_rejected = 0

    def add(self, usage: Usage | None) -> None:
        if usage is not None:
            self.seen = True
            self.prompt_tokens += usage.prompt_tokens
            self.output_tokens += usage.output_tokens

    def value(self) -> Usage | None:
        if not self.seen:
            return None
        return Usage(prompt_tokens=self.prompt_tokens, output_tokens=self.output_tokens)


class WorkerService:
    def __init__(
        self, *, store: WorkerStore, model: Model, settings: Settings, clock: Clock
    ) -> None:
        self._store = store
        self._model = model
        self._settings = settings
        self._clock = clock

    def process(self, job_id: str) -> DeliveryResult:
        claim = self._store.claim(job_id, now=self._clock())
        if claim.kind is not ClaimKind.CLAIMED or claim.lease is None or claim.stored is None:
            # Missing, terminal, or another delivery holds a live lease: acknowledge, no rerun.
            log.info(
                "delivery acknowledged without work",
                extra={"jobId": job_id, "event": f"worker.{claim.kind.value}"},
            )
            return DeliveryResult(claim.kind.value, job_id)
        lease, job = claim.lease, claim.stored.job
        log.info(
            "job claimed",
            extra={
                "jobId": job_id,
                "userId": job.user_id,
                "attempt": lease.attempt,
                "event": "job.processing",
            },
        )
        usage = _AttemptTotals()
        started = time.monotonic()
        try:
            return self._run(lease, job, usage, started)
        except ModelError as error:
            return self._fail(lease, job, error, usage, started)

    # ----- one attempt ---------------------------------------------------------------------

    def _run(self, lease: Lease, job: Job, usage: _AttemptTotals, started: float) -> DeliveryResult:
        s = self._settings
        if not job.estimated_total or not job.topic:
            intent, clarify_usage = self._model.clarify(job.prompt)
            usage.add(clarify_usage)
            total = clamp_count(
                intent.estimated_count,
                minimum=s.min_questions_per_job,
                maximum=s.max_questions_per_job,
            )
            topic = intent.topic.strip()[:80] or job.prompt[:80]
            outcome = self._store.set_plan(
                lease, topic=topic, estimated_total=total, now=self._clock()
            )
            if outcome is not WriteOutcome.WRITTEN:
                return self._stopped(lease, outcome)
            job = job.model_copy(update={"topic": topic, "estimated_total": total})

        remaining = (job.estimated_total or 0) - job.questions_saved
        if remaining > 0:
            outcome = self._stream(lease, job, remaining, usage)
            if outcome is not WriteOutcome.WRITTEN:
                return self._stopped(lease, outcome)

        outcome = self._store.complete(
            lease, now=self._clock(), usage=usage.value(), model=self._model.model
        )
        if outcome is not WriteOutcome.WRITTEN:
            return self._stopped(lease, outcome)
        log.info(
            "job completed",
            extra={
                "jobId": lease.job_id,
                "userId": job.user_id,
                "attempt": lease.attempt,
                "event": "job.completed",
                "durationMs": int((time.monotonic() - started) * 1000),
                "usage": _dump(usage.value()),
                "questionsSaved": usage.questions_saved,
                "questionsRejected": usage.questions_rejected,
            },
        )
        return DeliveryResult("completed", lease.job_id)

    def _stream(
        self, lease: Lease, job: Job, remaining: int, usage: _AttemptTotals
    ) -> WriteOutcome:
        existing = self._store.saved_questions(lease.job_id, job.question_ids)
        parser = StreamParser(seen={normalise_question_text(q) for q in existing})
        writer = ProgressWriter(
            self._store,
            lease,
            now=self._clock,
            interval_seconds=self._settings.progress_write_interval_seconds,
            heartbeat_seconds=self._settings.lease_seconds / 3,
        )
        writer.start()
        finish_reason: str | None = None
        ended = False
        try:
            chunks = self._model.stream_questions(
                job.prompt, topic=job.topic or "", count=remaining, existing=existing
            )
            # Usage metadata is cumulative over a stream: the last report is the total.
            stream_usage: Usage | None = None
            try:
                with contextlib.closing(chunks):
                    for chunk in chunks:
                        if writer.stopped:
                            break
                        stream_usage = chunk.usage or stream_usage
                        finish_reason = chunk.finish_reason or finish_reason
                        _hand_over(writer, _parse(parser.feed, chunk.text))
                    else:
                        ended = True
            finally:
                usage.add(stream_usage)
            if writer.stopped:
                return _close(writer, parser, usage, finalizing=False)
            problem = stream_outcome(finish_reason) if ended else None
            _hand_over(writer, _parse(lambda _: parser.finish(complete=problem is None), ""))
            if problem is not None:
                raise problem
            if parser.accepted == 0:
                raise ModelError(FailureCode.SCHEMA_VALIDATION, "no valid question in the stream")
        except BaseException:
            _close(writer, parser, usage, finalizing=False)
            raise
        return _close(writer, parser, usage, finalizing=True)

    # ----- endings -------------------------------------------------------------------------

    def _fail(
        self, lease: Lease, job: Job, error: ModelError, usage: _AttemptTotals, started: float
    ) -> DeliveryResult:
        failure = failure_for(error.code, error.detail)
        final = is_final(failure, attempt=lease.attempt, max_attempts=self._settings.max_attempts)
        outcome = self._store.record_failure(
            lease, failure, final=final, now=self._clock(), usage=usage.value()
        )
        if outcome is not WriteOutcome.WRITTEN:
            return self._stopped(lease, outcome)
        log.warning(
            "job attempt failed",
            extra={
                "jobId": lease.job_id,
                "userId": job.user_id,
                "attempt": lease.attempt,
                "event": "job.failed" if final else "job.retrying",
                "errorCode": failure.code.value,
                "retryable": failure.retryable,
                "usage": _dump(usage.value()),
                "durationMs": int((time.monotonic() - started) * 1000),
            },
        )
        return DeliveryResult(
            "failed" if final else "retrying",
            lease.job_id,
            retry=not final,
            detail={"errorCode": failure.code.value},
        )

    def _stopped(self, lease: Lease, outcome: WriteOutcome) -> DeliveryResult:
        log.info(
            "attempt stopped",
            extra={
                "jobId": lease.job_id,
                "attempt": lease.attempt,
                "event": f"worker.{outcome.value}",
            },
        )
        return DeliveryResult(outcome.value, lease.job_id)


def _close(
    writer: ProgressWriter, parser: StreamParser, totals: _AttemptTotals, *, finalizing: bool
) -> WriteOutcome:
    """Flush and stop the writer, then note what this attempt saved and rejected."""
    outcome = writer.close(finalizing=finalizing)
    totals.questions_saved = writer.saved_this_attempt
    totals.questions_rejected = parser.rejected_total
    return outcome


def _dump(usage: Usage | None) -> dict[str, int] | None:
    return usage.model_dump(by_alias=True) if usage is not None else None


def _parse(step: Callable[[str], list[ParsedItem]], text: str) -> list[ParsedItem]:
    try:
        return step(text)
    except StreamFormatError as exc:
        raise ModelError(FailureCode.SCHEMA_VALIDATION, "output is not a JSON array") from exc


def _hand_over(writer: ProgressWriter, items: list[ParsedItem]) -> None:
    drafts = [i.draft for i in items if isinstance(i, AcceptedItem)]
    writer.add(drafts, generated=len(items), rejected=len(items) - len(drafts))
