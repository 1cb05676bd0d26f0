"""One measured run of a pattern, and the whole series (warm-up, then runs of each pattern)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from qgen.adapters.firestore.names import JOBS
from qgen.domain.questions import normalise_question_text
from rich.console import Console

from benchmarks.firestore_traffic import Rpc
from benchmarks.worker_streaming.listener import QuestionListener
from benchmarks.worker_streaming.model import (
    LISTENER_GRACE_SECONDS,
    ORIGINAL,
    PATTERNS,
    WORKER,
    Delays,
    RunError,
    RunResult,
)
from benchmarks.worker_streaming.patterns import Env, process_original, process_with_worker
from benchmarks.worker_streaming.timed_model import TimedModel

PROCESS = {WORKER: process_with_worker, ORIGINAL: process_original}


@dataclass(frozen=True)
class Observed:
    """One job processed under a listener: what the pattern did and what the listener saw."""

    outcome: str
    started: float
    ended: float
    rpcs: list[Rpc]
    job: dict[str, Any]  # the job document afterwards
    saved: int
    complete: bool  # the listener saw every saved question
    seen: dict[str, float]  # normalised question text -> when the listener saw it


def observe(env: Env, pattern: str, job_id: str, model: TimedModel) -> Observed:
    listener = QuestionListener(env.plain_db, job_id)
    try:
        listener.wait_ready(10)
        mark = env.counter.mark()
        started = time.time()
        outcome = PROCESS[pattern](env, job_id, model)
        ended = time.time()
        rpcs = env.counter.since(mark)
        doc = env.plain_db.collection(JOBS).document(job_id).get().to_dict() or {}
        saved = int(doc.get("questionsSaved", 0))
        complete = listener.wait_for(saved, LISTENER_GRACE_SECONDS)
        seen = dict(listener.seen)
    finally:
        listener.close()
    return Observed(outcome, started, ended, rpcs, doc, saved, complete, seen)


def streamed(env: Env, where: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The model server's one stream request of the run, and the questions it sent."""
    stream = [r for r in env.admin.requests() if r.get("call") == "stream"]
    if len(stream) != 1 or stream[0].get("status") != 200:
        raise RunError(f"{where}: expected one good stream request, got {stream}")
    events = [e for e in env.admin.events() if e["request"] == stream[0]["n"]]
    if not events:
        raise RunError(f"{where}: the model server streamed no question")
    return stream[0], events


def question_delays(sent: dict[str, float], seen: dict[str, float], rpcs: list[Rpc]) -> Delays:
    """Per question: sent -> listener, sent -> commit answered, commit answered -> listener."""
    committed: dict[str, float] = {}
    for rpc in rpcs:
        if rpc.method == "Commit" and rpc.ok:
            for _, _, text in rpc.writes:
                if text:
                    committed.setdefault(normalise_question_text(text), rpc.at)
    delays, to_commit, to_listener = [], [], []
    for key, sent_at in sent.items():
        if key in seen:
            delays.append(seen[key] - sent_at)
        if key in committed:
            to_commit.append(committed[key] - sent_at)
            if key in seen:
                to_listener.append(seen[key] - committed[key])
    return Delays(delays, to_commit, to_listener)


def job_duration_s(job: dict[str, Any]) -> float | None:
    """completedAt - startedAt of the job document, when it has both."""
    started, completed = job.get("startedAt"), job.get("completedAt")
    if started is None or completed is None:
        return None
    return float((completed - started).total_seconds())


def measure(env: Env, pattern: str, run: int) -> RunResult:
    job_id = env.new_job()
    env.admin.reset()
    model = env.model()
    observed = observe(env, pattern, job_id, model)
    where = f"{pattern}, run {run}"
    if observed.outcome != "completed":
        raise RunError(f"{where}: job {job_id} ended {observed.outcome!r}")
    if not observed.complete:
        raise RunError(f"{where}: listener saw {len(observed.seen)} of {observed.saved} questions")
    request, events = streamed(env, where)
    sent = {normalise_question_text(e["question"]): float(e["sentAt"]) for e in events}
    return RunResult(
        pattern=pattern,
        run=run,
        job_id=job_id,
        saved=observed.saved,
        job_duration_s=job_duration_s(observed.job),
        stream_received_at=float(request["receivedAt"]),
        last_item_sent_at=max(float(e["sentAt"]) for e in events),
        final_chunk_at=model.final_chunk_at,
        started_at=observed.started,
        ended_at=observed.ended,
        delays=question_delays(sent, observed.seen, observed.rpcs),
        missing=sum(1 for key in sent if key not in observed.seen),
        rpcs=observed.rpcs,
        job_path=f"{env.counted_db._database_string}/documents/{JOBS}/{job_id}",
    )


def run_all(env: Env, runs: int, warmup: bool, console: Console) -> dict[str, list[RunResult]]:
    if warmup:
        # Not counted: the first transactions of a fresh emulator JVM and the first connections
        # are slow; one pass of each pattern at full speed warms both up.
        env.admin.config(paceMs=0)
        for pattern in PATTERNS:
            job_id = env.new_job()
            if PROCESS[pattern](env, job_id, env.model()) != "completed":
                raise RunError(f"warm-up of the {pattern} did not complete")
        env.admin.reset()
    results: dict[str, list[RunResult]] = {pattern: [] for pattern in PATTERNS}
    for run in range(1, runs + 1):
        for pattern in PATTERNS:
            console.print(f"Run {run}/{runs}: {pattern} …")
            results[pattern].append(measure(env, pattern, run))
    return results
