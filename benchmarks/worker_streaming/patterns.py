"""The two patterns that save one job's stream: the worker, and the seed's original one."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from google.cloud import firestore
from qgen.adapters.clock import utc_now
from qgen.adapters.firestore.names import JOBS, QUESTIONS
from qgen.adapters.firestore.reader import FirestoreJobReader
from qgen.adapters.firestore.unit_of_work import FirestoreUnitOfWork
from qgen.adapters.gemini import GeminiModel
from qgen.config import Settings
from qgen.domain.jobs import Job
from qgen.domain.prompts import clamp_count
from qgen.domain.questions import SavedQuestion
from qgen.domain.stream_parser import AcceptedItem, ParsedItem, StreamParser
from qgen.services.jobs import CreateRequest, JobService
from qgen.services.worker import WorkerService

from benchmarks.firestore_traffic import RpcCounter
from benchmarks.worker_streaming.model import ORIGINAL_STATUS_READ_EVERY, PROMPT
from benchmarks.worker_streaming.timed_model import TimedModel
from dev.model_server.client import AdminClient


class NoQueue:
    """The job is processed in this process, not through Cloud Tasks."""

    def enqueue(self, task_id: str, job_id: str) -> bool:
        return True


@dataclass
class Env:
    settings: Settings
    counter: RpcCounter
    counted_db: firestore.Client  # what the worker (and the original pattern) write through
    plain_db: firestore.Client  # job creation, the listener, read-back: not counted
    admin: AdminClient
    model_url: str
    jobs_created: int = 0

    def model(self) -> TimedModel:
        s = self.settings
        return TimedModel(
            GeminiModel(
                api_key="",
                base_url=self.model_url,
                model=s.gemini_model,
                timeout_seconds=s.model_timeout_seconds,
            )
        )

    def new_job(self) -> str:
        """A pending job made by the real JobService (own user and address: no limit bites)."""
        self.jobs_created += 1
        n = self.jobs_created
        service = JobService(
            uow=FirestoreUnitOfWork(
                self.plain_db, transaction_max_attempts=self.settings.transaction_max_attempts
            ),
            reader=FirestoreJobReader(self.plain_db),
            queue=NoQueue(),
            settings=self.settings,
            clock=utc_now,
        )
        request = CreateRequest(
            user_id=f"bench-worker-u{n:03d}",
            prompt=PROMPT,
            client_ip=f"198.51.100.{n % 250 + 1}",
        )
        return str(service.create(request).stored.job_id)


def process_with_worker(env: Env, job_id: str, model: TimedModel) -> str:
    """The real WorkerService; all its Firestore traffic goes through the counted client."""
    s, db = env.settings, env.counted_db
    worker = WorkerService(
        uow=FirestoreUnitOfWork(db, transaction_max_attempts=s.transaction_max_attempts),
        reader=FirestoreJobReader(db),
        model=model,
        settings=s,
        clock=utc_now,
    )
    return worker.process(job_id).outcome.value


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
        self.saved = 0

    def run(self) -> str:
        started = utc_now()
        self._job_ref.update({"status": "processing", "phase": "clarifying", "startedAt": started})
        topic, total = self._plan()
        if not self._stream(topic, total):
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

    def _plan(self) -> tuple[str, int]:
        s, prompt = self._settings, self._job.prompt
        intent, _ = self._model.clarify(prompt)
        total = clamp_count(
            intent.estimated_count, minimum=s.min_questions_per_job, maximum=s.max_questions_per_job
        )
        topic = intent.topic.strip()[:80] or prompt[:80]
        self._job_ref.update({"topic": topic, "estimatedTotal": total, "phase": "generating"})
        return topic, total

    def _stream(self, topic: str, total: int) -> bool:
        """False once the job was found cancelled."""
        parser = StreamParser()
        chunks = self._model.stream_questions(
            self._job.prompt, topic=topic, count=total, existing=[]
        )
        with contextlib.closing(chunks):
            for chunk in chunks:
                if not self._save(parser.feed(chunk.text), topic):
                    return False
        # The stream ended normally, so the model finished (STOP; any other ending raises
        # ModelError): the last item is whole.
        self._save(parser.finish(complete=True), topic)
        return True

    def _save(self, items: list[ParsedItem], topic: str) -> bool:
        """False once the job was found cancelled."""
        for item in items:
            if not isinstance(item, AcceptedItem):
                continue
            # The worker's own document model: both patterns write the same documents.
            question = SavedQuestion.of(
                item.draft,
                job_id=self._job_id,
                user_id=self._job.user_id,
                topic=topic,
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
