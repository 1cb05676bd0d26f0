"""One measured run of a pattern, and the whole series (warm-up, then each configuration)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from qgen.adapters.firestore.names import JOBS
from qgen.domain.questions import normalise_question_text
from rich.console import Console

from benchmarks.firestore_traffic import Rpc
from benchmarks.worker_streaming.model import (
    LISTENER_GRACE_SECONDS,
    ORIGINAL,
    PATTERNS,
    STREAM_RECORD_WAIT_SECONDS,
    WORKER,
    Config,
    Delays,
    Plan,
    RunError,
    RunResult,
)
from benchmarks.worker_streaming.original import process_original
from benchmarks.worker_streaming.patterns import Env, process_with_worker
from benchmarks.worker_streaming.timed_model import TimedModel, parsed_times

PROCESS = {WORKER: process_with_worker, ORIGINAL: process_original}


@dataclass(frozen=True)
class Observed:
    """One job created and processed under a listener: what happened, what the listener saw."""

    job_id: str
    outcome: str
    created: float  # JobService.create() returned
    started: float
    ended: float
    rpcs: list[Rpc]
    cpu: dict[str, float]  # CPU seconds while the pattern ran, by process, and the machine's
    job: dict[str, Any]  # the job document afterwards
    saved: int
    complete: bool  # the listener saw every saved question
    seen: dict[str, float]  # normalised question text -> when the listener saw it


def observe(env: Env, pattern: str, model: TimedModel) -> Observed:
    """The listener (on the job's user) is up before the job is created."""
    user_id = env.new_user()
    assert env.listeners is not None, "worker_stream listens from its listener process"
    listener = env.listeners.listener(user_id)
    try:
        listener.wait_ready(10)
        job_id, created = env.new_job(user_id)
        mark, cpu_before = env.counter.mark(), env.cpu()
        started = time.time()
        outcome = PROCESS[pattern](env, job_id, model)
        ended = time.time()
        cpu = {k: v - cpu_before[k] for k, v in env.cpu().items()}
        rpcs = env.counter.since(mark)
        doc = env.plain_db.collection(JOBS).document(job_id).get().to_dict() or {}
        saved = int(doc.get("questionsSaved", 0))
        complete = listener.wait_for(saved, LISTENER_GRACE_SECONDS)
        seen = dict(listener.seen)
    finally:
        listener.close()
    return Observed(job_id, outcome, created, started, ended, rpcs, cpu, doc, saved, complete, seen)


def streamed(env: Env, where: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The model server's one stream request of the run, and the questions it sent.

    A stream the worker closed at its planned count is recorded once the server notices the
    client gone (at its next write): wait a moment for it."""
    deadline = time.monotonic() + STREAM_RECORD_WAIT_SECONDS
    while True:
        stream = [r for r in env.admin.requests() if r.get("call") == "stream"]
        if stream or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if len(stream) != 1 or not _whole(stream[0]):
        raise RunError(f"{where}: expected one good stream request, got {stream}")
    events = [e for e in env.admin.events() if e["request"] == stream[0]["n"]]
    if not events:
        raise RunError(f"{where}: the model server streamed no question")
    return stream[0], events


def _whole(request: dict[str, Any]) -> bool:
    """The stream ran to its end, or the worker closed it once the planned count was in."""
    if request.get("status") == 200:
        return True
    planned = request.get("plannedCount")
    return (
        request.get("status") == "client gone"
        and planned is not None
        and (request.get("items", 0) >= planned)
    )


def commit_times(rpcs: list[Rpc]) -> dict[str, float]:
    """Normalised question text -> when the commit that wrote it was answered."""
    committed: dict[str, float] = {}
    for rpc in rpcs:
        if rpc.method == "Commit" and rpc.ok:
            for _, _, text in rpc.writes:
                if text:
                    committed.setdefault(normalise_question_text(text), rpc.at)
    return committed


def question_delays(
    sent: dict[str, float],
    parsed: dict[str, float],
    committed: dict[str, float],
    seen: dict[str, float],
) -> Delays:
    """Per question (seconds): sent -> listener, and that split at the parser and the commit."""
    delays = Delays([], [], [], [])
    for key, sent_at in sent.items():
        if key in seen:
            delays.sent_to_listener.append(seen[key] - sent_at)
        if key in parsed:
            delays.sent_to_parsed.append(parsed[key] - sent_at)
            if key in committed:
                delays.parsed_to_commit.append(committed[key] - parsed[key])
        if key in committed and key in seen:
            delays.commit_to_listener.append(seen[key] - committed[key])
    return delays


def job_duration_s(job: dict[str, Any]) -> float | None:
    """completedAt - startedAt of the job document, when it has both."""
    started, completed = job.get("startedAt"), job.get("completedAt")
    if started is None or completed is None:
        return None
    return float((completed - started).total_seconds())


def measure(env: Env, config: Config, pattern: str, run: int) -> RunResult:
    env.admin.reset()  # back to the CLI values, then this configuration's changes
    env.fresh_database()
    if config.model:
        env.admin.config(**config.model)
    env.settings = env.settings.model_copy(update={"max_questions_per_job": config.questions})
    model = env.model()
    o = observe(env, pattern, model)
    where = f"{config.key}, {pattern}, run {run}"
    if o.outcome != "completed":
        raise RunError(f"{where}: job {o.job_id} ended {o.outcome!r}")
    if not o.complete:
        raise RunError(f"{where}: listener saw {len(o.seen)} of {o.saved} questions")
    request, events = streamed(env, where)
    sent = {normalise_question_text(e["question"]): float(e["sentAt"]) for e in events}
    first = normalise_question_text(min(events, key=lambda e: float(e["sentAt"]))["question"])
    committed = commit_times(o.rpcs)
    parsed = parsed_times(model.received, complete=model.final_chunk_at is not None)
    return RunResult(
        config=config.key,
        pattern=pattern,
        run=run,
        job_id=o.job_id,
        saved=o.saved,
        job_duration_s=job_duration_s(o.job),
        created_at=o.created,
        stream_received_at=float(request["receivedAt"]),
        first_item_sent_at=sent[first],
        last_item_sent_at=max(sent.values()),
        final_chunk_at=model.final_chunk_at,
        first_seen_at=min(o.seen.values(), default=None),
        first_committed_at=min(committed.values(), default=None),
        started_at=o.started,
        ended_at=o.ended,
        delays=question_delays(sent, parsed, committed, o.seen),
        missing=sum(1 for key in sent if key not in o.seen),
        rpcs=o.rpcs,
        cpu=o.cpu,
        job_path=f"{env.counted_db._database_string}/documents/{JOBS}/{o.job_id}",
    )


def warm_up(env: Env) -> None:
    """Not counted: the first transactions of a fresh emulator JVM and the first connections
    are slow; one pass of each pattern at full speed warms both up."""
    env.admin.reset()
    env.admin.config(paceMs=0)
    for pattern in PATTERNS:
        job_id, _ = env.new_job(env.new_user())
        if PROCESS[pattern](env, job_id, env.model()) != "completed":
            raise RunError(f"warm-up of the {pattern} did not complete")
    env.admin.reset()


def run_all(env: Env, plan: Plan, console: Console) -> list[RunResult]:
    """Run after run, every configuration in turn (so a change of the machine's load touches
    them alike); in each, the worker, then the original pattern on the same stream."""
    if plan.warmup:
        warm_up(env)
    results: list[RunResult] = []
    for run in range(1, plan.runs + 1):
        for config in plan.configs():
            for pattern in PATTERNS:
                console.print(f"Run {run}/{plan.runs}, {config.label}: {pattern} …")
                results.append(measure(env, config, pattern, run))
    return results
