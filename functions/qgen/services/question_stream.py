"""One attempt's stream: model text -> plan and questions -> the question writer, until it ends.

The model answers in one structured stream: the plan (topic, count) first, then the
questions. The plan's count, within the configured limits, is the job's cap: no more questions
than that are ever saved, and once it is reached the stream is closed (nothing more is read,
so no more is paid for).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from ..config import Settings
from ..domain import transitions
from ..domain.failures import FailureCode, ModelError
from ..domain.jobs import Job, Usage
from ..domain.prompts import GenerationRequest, Plan, plan_from
from ..domain.questions import QuestionDraft, normalise_question_text
from ..domain.stream_parser import AcceptedItem, ParsedItem, StreamParser
from ..domain.stream_text import StreamFormatError
from .attempt_writes import AttemptEnd, AttemptWrites
from .ports import JobReader, Model
from .question_writer import Counts, ProgressPolicy, QuestionWriter

_NO_VALID_QUESTION = "no valid question in the stream"
_SHORT_OF_PLAN = "the stream ended short of its plan after invalid items"


class QuestionStream:
    def __init__(
        self, model: Model, writes: AttemptWrites, reader: JobReader, *, settings: Settings
    ) -> None:
        self._model = model
        self._writes = writes
        self._reader = reader
        self._settings = settings
        self._policy = ProgressPolicy(
            interval=settings.progress_write_interval_seconds,
            heartbeat=settings.lease_seconds / 3,
        )
        self.usage: Usage | None = None
        self.plan: Plan | None = None
        self.model_used: str | None = None  # the fallback, if it answered
        self.saved = 0
        self.rejected = 0
        self._handed = 0  # questions given to the writer in this attempt
        # Finished questions the writer had not committed when the stream ended.
        self.leftovers: list[QuestionDraft] = []
        # When (monotonic) this attempt handed over the job's very first question, if it did.
        self.first_question_at: float | None = None
        # Items judged over all attempts (generated, rejected), once this attempt has run.
        self.counts: tuple[int, int] | None = None
        # Question documents committed over all attempts, as far as this attempt knows.
        self.committed = 0

    def end(self) -> AttemptEnd:
        """What this attempt brings to the job's last write."""
        return AttemptEnd(self.plan, self.counts, self.usage, tuple(self.leftovers), self.committed)

    def run(self, job: Job) -> None:
        """Stream the job's (remaining) questions into it. Raises ModelError when the model
        failed and AttemptStoppedError when the job was cancelled or the lease lost."""
        # No earlier attempt (the first claim of the first run) has saved nothing: skip a read.
        first = job.attempts == 1 and job.run == 0
        saved = [] if first else self._reader.saved_questions(self._writes.lease.job_id)
        self.committed = len(saved)
        self.plan = transitions.plan_of(job)
        if self.plan is not None and len(saved) >= self.plan.total:
            return  # an earlier attempt saved them all and stopped before completing
        counts = Counts([qid for qid, _ in saved], job.questions_generated, job.questions_rejected)
        existing = tuple(text for _, text in saved)
        parser = StreamParser(seen={normalise_question_text(q) for q in existing}, envelope=True)
        writer = QuestionWriter(self._writes, self._policy, counts)
        writer.start(self.plan)
        finished = False
        try:
            self._read(self._request(job, existing), job, parser, writer, already=len(saved))
            finished = True
        finally:
            try:
                # A finished stream's last questions go with the completion, in one commit.
                self.leftovers = writer.close(hand_back=finished)
            finally:
                self.saved = writer.saved_this_attempt + len(self.leftovers)
                self.rejected = parser.rejected_total
                self.counts = (counts.generated, counts.rejected)
                self.committed = len(counts.question_ids)

    def _request(self, job: Job, existing: tuple[str, ...]) -> GenerationRequest:
        remaining = self.plan.total - len(existing) if self.plan is not None else 0
        return GenerationRequest(
            learner_prompt=job.prompt,
            max_count=self._settings.max_questions_per_job,
            plan=self.plan,
            remaining=remaining,
            existing=existing,
        )

    def _read(
        self,
        request: GenerationRequest,
        job: Job,
        parser: StreamParser,
        writer: QuestionWriter,
        *,
        already: int,
    ) -> None:
        chunks = self._model.stream_questions(request)
        with contextlib.closing(chunks):
            for chunk in chunks:
                if writer.stopped:
                    return
                self.usage = chunk.usage or self.usage
                self.model_used = chunk.model or self.model_used
                items = _parse(parser.feed, chunk.text)
                if self._hand_over(job, parser, writer, items, already=already):
                    return  # the cap is reached: stop reading, the job is complete
            items = _parse(lambda _: parser.finish(complete=True), "")
            self._hand_over(job, parser, writer, items, already=already)
        if parser.accepted == 0:
            raise ModelError(FailureCode.SCHEMA_VALIDATION, _NO_VALID_QUESTION)
        if self.plan is not None and transitions.fill_in_wanted(
            planned=self.plan.total,
            delivered=already + self._handed,
            rejected=parser.rejected_total,
            attempt=job.attempts,
            max_attempts=self._settings.max_attempts,
        ):
            raise ModelError(FailureCode.SCHEMA_VALIDATION, _SHORT_OF_PLAN)

    def _hand_over(
        self,
        job: Job,
        parser: StreamParser,
        writer: QuestionWriter,
        items: list[ParsedItem],
        *,
        already: int,
    ) -> bool:
        """Give the writer what fits under the cap; True once the cap is reached."""
        if self.plan is None and parser.header is not None:
            s = self._settings
            self.plan = plan_from(
                parser.header,
                learner_prompt=job.prompt,
                minimum=s.min_questions_per_job,
                maximum=s.max_questions_per_job,
            )
            writer.set_plan(self.plan)
        if self.plan is None:
            return False
        room = self.plan.total - already - self._handed
        accepted = [i for i in items if isinstance(i, AcceptedItem)]
        kept = accepted[: max(room, 0)]
        if kept and already == 0 and self._handed == 0:
            self.first_question_at = time.monotonic()
        judged = len(items) - (len(accepted) - len(kept))
        writer.add([i.draft for i in kept], generated=judged, rejected=judged - len(kept))
        self._handed += len(kept)
        return self._handed >= self.plan.total - already


def _parse(step: Callable[[str], list[ParsedItem]], text: str) -> list[ParsedItem]:
    try:
        return step(text)
    except StreamFormatError as exc:
        raise ModelError(FailureCode.SCHEMA_VALIDATION, "output is not the JSON asked for") from exc
