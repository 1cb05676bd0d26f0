"""The learners: jobs created over the drive, some cancelled a moment later, failed ones retried.

Everything goes through the api over HTTP as the learner (an unsigned emulator ID token), with
the learner's address in X-Forwarded-For: the api trusts one proxy hop and takes the last
entry (functions/qgen/domain/limits.py client_ip), so the first learners all share one
address, the others have one each. Firestore is read only to learn what happened (which jobs
failed, a cancelled job's commit time), never written.
"""

from __future__ import annotations

import functools
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from google.cloud.firestore import FieldFilter
from qgen.adapters.firestore.names import JOBS

from benchmarks.soaking.actions import Actions, Tally
from benchmarks.soaking.options import SoakOptions
from dev.tokens import emulator_id_token

PROMPTS = (
    "{n} questions about the NATO phonetic alphabet",
    "{n} questions on the first 20 chemical elements",
    "{n} questions about world capitals",
)
SHARED_ADDRESS = "172.16.0.1"
MAX_OWNER_RETRIES = 2  # per job


@dataclass(frozen=True)
class Learner:
    uid: str
    address: str
    headers: dict[str, str]


@dataclass
class Ledger:
    """What the learners did, for the checks and the figures."""

    created: dict[str, str] = field(default_factory=dict)  # job id -> learner uid
    # job id -> the job document's update time read right after its cancel answered 200.
    cancel_commits: dict[str, datetime] = field(default_factory=dict)
    retried: dict[str, int] = field(default_factory=dict)  # job id -> owner retries accepted
    lock: threading.Lock = field(default_factory=threading.Lock)


def make_learners(options: SoakOptions, run_id: str, project_id: str) -> list[Learner]:
    learners = []
    for i in range(options.learners):
        uid = f"soak-{run_id}-{i:03d}"
        shared = i < options.shared_address_learners
        address = SHARED_ADDRESS if shared else f"10.{i // 250}.{i % 250}.1"
        token = emulator_id_token(uid, project_id=project_id, lifetime_seconds=4 * 3600)
        headers = {"Authorization": f"Bearer {token}", "X-Forwarded-For": address}
        learners.append(Learner(uid, address, headers))
    return learners


@dataclass
class Learners:
    options: SoakOptions
    learners: list[Learner]
    http: httpx.Client
    db: Any  # google.cloud.firestore.Client on the soak's emulator
    actions: Actions
    tally: Tally
    rng: random.Random
    ledger: Ledger = field(default_factory=Ledger)
    # Failures already decided on, by job id and run (a retried job fails as a new run).
    seen_failures: set[str] = field(default_factory=set)

    def create(self) -> None:
        """One job for some learner; a learner at the concurrency cap passes to another."""
        n = self.rng.randint(*self.options.questions)
        prompt = self.rng.choice(PROMPTS).format(n=n)
        for _ in range(20):
            learner = self.rng.choice(self.learners)
            answer = self.http.post("/jobs", json={"prompt": prompt}, headers=learner.headers)
            self.tally.add(f"create {answer.status_code} {_code(answer)}".strip())
            if answer.status_code == 202:
                self._admitted(learner, str(answer.json()["jobId"]))
                return
            time.sleep(0.2)
        self.tally.add("create given up (every try refused)")

    def _admitted(self, learner: Learner, job_id: str) -> None:
        with self.ledger.lock:
            self.ledger.created[job_id] = learner.uid
        if self.rng.random() < self.options.cancel_rate:
            # Most jobs stream for about a second: cancel within it (mid-stream, or pending)
            # more often than after (a 409 on a job that already ended).
            delay = self.rng.uniform(0.05, 2.0)
            self.actions.at(time.monotonic() + delay, lambda: self.cancel(learner, job_id))

    def cancel(self, learner: Learner, job_id: str) -> None:
        answer = self.http.post(f"/jobs/{job_id}/cancel", headers=learner.headers)
        self.tally.add(f"cancel {answer.status_code} {_code(answer)}".strip())
        if answer.status_code == 200:
            # Nothing may write the job after its cancel: its update time now is the cancel's.
            snapshot = self.db.collection(JOBS).document(job_id).get()
            with self.ledger.lock:
                self.ledger.cancel_commits[job_id] = snapshot.update_time

    def retry_failed(self) -> None:
        """The owners of failed, retryable jobs retry some of them (once per failure)."""
        only_failed = FieldFilter("status", "==", "failed")
        failed = self.db.collection(JOBS).where(filter=only_failed).stream()
        for snapshot in failed:
            job = snapshot.to_dict()
            key = f"{snapshot.id}/{job.get('run', 0)}"
            if not job.get("retryable") or key in self.seen_failures:
                continue
            self.seen_failures.add(key)
            retries = self.ledger.retried.get(snapshot.id, 0)
            if retries < MAX_OWNER_RETRIES and self.rng.random() < self.options.retry_rate:
                learner = next(x for x in self.learners if x.uid == job["userId"])
                self.actions.now(functools.partial(self._retry, learner, snapshot.id))

    def _retry(self, learner: Learner, job_id: str) -> None:
        answer = self.http.post(f"/jobs/{job_id}/retry", headers=learner.headers)
        self.tally.add(f"retry {answer.status_code} {_code(answer)}".strip())
        if answer.status_code == 202:
            with self.ledger.lock:
                self.ledger.retried[job_id] = self.ledger.retried.get(job_id, 0) + 1


def _code(answer: httpx.Response) -> str:
    if answer.status_code < 400:
        return ""
    try:
        return str(answer.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return ""
