"""The run's clients and jobs, and the worker's pattern: the real WorkerService."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from google.cloud import firestore
from qgen.adapters.clock import utc_now
from qgen.adapters.firestore.reader import FirestoreJobReader
from qgen.adapters.firestore.unit_of_work import FirestoreUnitOfWork
from qgen.adapters.gemini import GeminiModel, thinking_config
from qgen.config import Settings
from qgen.services.jobs import CreateRequest, JobService
from qgen.services.worker import WorkerService

from benchmarks.environment import machine_busy_seconds, process_cpu_seconds
from benchmarks.firestore_traffic import RpcCounter
from benchmarks.worker_streaming.listener_process import ListenerProcess
from benchmarks.worker_streaming.model import PROMPT
from benchmarks.worker_streaming.timed_model import TimedModel
from dev.model_server.client import AdminClient
from dev.stack import wipe_firestore


class NoQueue:
    """The job is processed in this process, not through Cloud Tasks."""

    def enqueue(self, task_id: str, job_id: str, *, delay_seconds: float = 0) -> bool:
        return True


@dataclass
class Env:
    settings: Settings
    counter: RpcCounter
    counted_db: firestore.Client  # what the worker (and the original pattern) write through
    plain_db: firestore.Client  # job creation, read-back: not counted
    admin: AdminClient
    model_url: str
    pids: dict[str, int] = field(default_factory=dict)  # processes whose CPU time is taken
    users: int = 0
    # The learner's device (worker_stream; capacity listens on its own).
    listeners: ListenerProcess | None = None
    firestore_address: str = ""  # the emulator's host:port, to start each run empty

    def fresh_database(self) -> None:
        """Delete every document of the project, with no listener attached.

        The emulator answers each listener by running its query again over the whole
        collection on every commit to it (measured: 10 listeners on 1,000 questions cost ~85 ms
        of emulator CPU per one-document commit, against ~11 ms with none), a cost that grows
        with every document earlier runs left behind and that Firestore itself does not have.
        Each run starts from an empty database, as each test does, so that the order of the
        runs does not decide their figures."""
        wipe_firestore(self.firestore_address, self.plain_db.project)

    def model(self) -> TimedModel:
        """GeminiModel as the worker's wiring builds it (thinking setting included)."""
        s = self.settings
        return TimedModel(
            GeminiModel(
                api_key="",
                base_url=self.model_url,
                model=s.gemini_model,
                timeout_seconds=s.model_timeout_seconds,
                thinking=thinking_config(s.gemini_thinking_budget, s.gemini_thinking_level),
            )
        )

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far: each process of the run, and the whole machine (all cores)."""
        seconds = {name: process_cpu_seconds(pid) for name, pid in self.pids.items()}
        return {**seconds, "machine": machine_busy_seconds()}

    def new_user(self) -> str:
        """A user of its own per job (and its own address), so no limit bites."""
        self.users += 1
        return f"bench-worker-u{self.users:03d}"

    def new_job(self, user_id: str, prompt: str = PROMPT) -> tuple[str, float]:
        """A pending job made by the real JobService; its id and when create() returned.

        Another prompt of the same deck lets a run tell concurrent jobs' model requests apart
        (the model server records the learner's request)."""
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
            user_id=user_id, prompt=prompt, client_ip=f"198.51.100.{self.users % 250 + 1}"
        )
        job_id = str(service.create(request).stored.job_id)
        return job_id, time.time()


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
