"""The seed's write pattern, on the worker's one-call stream: the baseline.

Per finished question one insert of the question document and one update of the job's progress
(separate commits), a read of the job's status every 10 questions; one update each for
"processing", the plan (when the stream's header arrives) and "completed". Same request, same
parser and same question documents as the worker, through the same counted channel.
"""

from __future__ import annotations

import contextlib

from google.cloud import firestore
from qgen.adapters.clock import utc_now
from qgen.adapters.firestore.names import JOBS, QUESTIONS
from qgen.domain.jobs import Job
from qgen.domain.prompts import GenerationRequest, Plan, plan_from
from qgen.domain.questions import SavedQuestion
from qgen.domain.stream_parser import AcceptedItem, ParsedItem, StreamParser

from benchmarks.worker_streaming.model import ORIGINAL_STATUS_READ_EVERY
from benchmarks.worker_streaming.patterns import Env
from benchmarks.worker_streaming.timed_model import TimedModel


def process_original(env: Env, job_id: str, model: TimedModel) -> str:
    """The seed's pattern: per question an insert and a progress update, status every 10."""
    return OriginalPattern(env, job_id, model).run()


class OriginalPattern:
    """One job through the original pattern, on the counted client (the job read excepted)."""

    def __init__(self, env: Env, job_id: str, model: TimedModel) -> None:
        snapshot = env.plain_db.collection(JOBS).document(job_id).get()
        self._job = Job.model_validate(snapshot.to_dict())
        self._job_id = job_id
        self._settings = env.settings
        self._db = env.counted_db
        self._job_ref = env.counted_db.collection(JOBS).document(job_id)
        self._model = model
        self._plan: Plan | None = None
        self.saved = 0

    def run(self) -> str:
        started = utc_now()
        self._job_ref.update({"status": "processing", "phase": "clarifying", "startedAt": started})
        if not self._stream():
            return "cancelled"
        ended = utc_now()
        self._job_ref.update(
            {
                "status": "completed",
                "phase": "finalizing",
                "completedAt": ended,
                "durationMs": int((ended - started).total_seconds() * 1000),
            }
        )
        return "completed"

    def _stream(self) -> bool:
        """False once the job was found cancelled."""
        s = self._settings
        parser = StreamParser(envelope=True)
        request = GenerationRequest(
            learner_prompt=self._job.prompt, max_count=s.max_questions_per_job
        )
        chunks = self._model.stream_questions(request)
        with contextlib.closing(chunks):
            for chunk in chunks:
                items = parser.feed(chunk.text)
                if self._plan is None and parser.header is not None:
                    self._write_plan(parser)
                if not self._save(items):
                    return False
        # The stream ended normally, so the model finished (STOP): the last item is whole.
        return self._save(parser.finish(complete=True))

    def _write_plan(self, parser: StreamParser) -> None:
        s = self._settings
        assert parser.header is not None
        self._plan = plan_from(
            parser.header,
            learner_prompt=self._job.prompt,
            minimum=s.min_questions_per_job,
            maximum=s.max_questions_per_job,
        )
        self._job_ref.update(
            {"topic": self._plan.topic, "estimatedTotal": self._plan.total, "phase": "generating"}
        )

    def _save(self, items: list[ParsedItem]) -> bool:
        """False once the job was found cancelled. At most the plan's count is saved."""
        for item in items:
            if not isinstance(item, AcceptedItem) or self._plan is None:
                continue
            if self.saved >= self._plan.total:
                return True
            # The worker's own document model: both patterns write the same documents.
            question = SavedQuestion.of(
                item.draft,
                job_id=self._job_id,
                user_id=self._job.user_id,
                topic=self._plan.topic,
                now=utc_now(),
            )
            _, ref = self._db.collection(QUESTIONS).add(question.model_dump(by_alias=True))
            self.saved += 1
            self._job_ref.update(
                {
                    "questionsGenerated": firestore.Increment(1),
                    "questionsSaved": firestore.Increment(1),
                    "questionIds": firestore.ArrayUnion([ref.id]),
                }
            )
            if self.saved % ORIGINAL_STATUS_READ_EVERY == 0:
                status = self._job_ref.get(field_paths=["status"]).get("status")
                if status == "cancelled":
                    return False
        return True
