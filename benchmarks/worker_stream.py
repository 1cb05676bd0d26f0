"""The worker while it streams: question visibility delay, overhead, Firestore traffic.

    .venv/bin/python -m benchmarks.worker_stream                     # 40 questions, 40 ms pace
    .venv/bin/python -m benchmarks.worker_stream --pace-ms 10 --runs 3

The script starts its own Firestore emulator and offline model server
(``python -m dev.model_server --quiet``) on free loopback ports, project ``demo-qgen-bench-worker``,
logs under ``.dev/logs/bench-worker/``, and stops both at the end, also on errors, Ctrl-C,
SIGTERM and ``--timeout``. The real ``WorkerService`` runs in this process against the real
``GeminiModel`` (google-genai over HTTP/SSE) and a real ``WorkerStore`` whose
``firestore.Client`` talks to the emulator through a counting gRPC interceptor.

Per run, one job for the prompt "NATO alphabet" (the deck has 78 questions; the worker clamps
the model's estimate to ``--questions``, which is set as ``max_questions_per_job``) is processed
by the worker, and the same stream (same request, so the same chunks and question texts) is
then consumed by "the original pattern": for every finished question one insert of the
question document and one update of the job's progress (separate commits), and a read of the
job's status every 10 questions, through the same counting channel; plus one update each for
"processing", the plan (topic, estimatedTotal) and "completed", where the worker has its claim,
plan and completion transactions.

Measured:
  (a) delay from the model server writing the chunk that closes a question (its ``sentAt``) to
      a Firestore listener on a separate client seeing that question document (goal: p50
      <= 100 ms);
  (b) job wall time / model stream time (goal: <= 1.05);
  (c) Firestore RPCs by method, documents read and written (goal: worker writes <= 0.6 x the
      original pattern's);
  (d) writes to the job document: the most in any 1-second window and the rate while
      streaming (goal: <= 1/s sustained).

Missing a goal is reported, not an error. Exit status: 0 the run was carried out, 2 it could
not be (the stack did not start, a job did not complete, the listener missed a question,
--timeout), 130 interrupted.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import platform
import shlex
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from google.cloud import firestore
from google.cloud.firestore import FieldFilter
from qgen.adapters.clock import utc_now
from qgen.adapters.firestore_store import JOBS, FirestoreStore
from qgen.adapters.gemini import GeminiModel, StreamChunk
from qgen.adapters.worker_store import QUESTIONS, WorkerStore, _question_document
from qgen.config import Settings
from qgen.domain.jobs import Job, Usage
from qgen.domain.prompts import ClarifiedIntent, clamp_count
from qgen.domain.questions import AcceptedItem, ParsedItem, StreamParser, normalise_question_text
from qgen.services.jobs import CreateRequest, JobService
from qgen.services.worker import WorkerService
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from benchmarks.environment import (
    code_version,
    cpu_model,
    firestore_emulator_version,
    load_average,
)
from benchmarks.firestore_traffic import CountedClient, Rpc, RpcCounter
from benchmarks.report import percentile
from dev.model_server.client import AdminClient
from dev.stack import (
    ROOT,
    STATE_DIR,
    Stack,
    StackConfig,
    StackError,
    free_port,
    start_firestore,
)

BENCH_PROJECT = "demo-qgen-bench-worker"
BENCH_LOG_DIR = STATE_DIR / "logs" / "bench-worker"
PROMPT = "NATO alphabet"
# Status read of the original pattern: every this many saved questions.
ORIGINAL_STATUS_READ_EVERY = 10
LISTENER_GRACE_SECONDS = 10.0
GOAL_DELAY_P50_MS = 100.0
GOAL_WALL_OVER_STREAM = 1.05
GOAL_WRITE_RATIO = 0.6
GOAL_JOB_WRITES_PER_S = 1.0

EXIT_OK, EXIT_NOT_RUN, EXIT_INTERRUPTED = 0, 2, 130

WORKER, ORIGINAL = "worker", "original pattern"


class RunError(RuntimeError):
    pass


# ----- what a client sees: a listener on a separate client -----------------------------------


class QuestionListener:
    """``questions where generationJobId == job`` with on_snapshot; time.time() per new doc."""

    def __init__(self, db: firestore.Client, job_id: str) -> None:
        self.seen: dict[str, float] = {}
        self._cond = threading.Condition()
        self._ready = False
        query = db.collection(QUESTIONS).where(filter=FieldFilter("generationJobId", "==", job_id))
        self._watch = query.on_snapshot(self._on_snapshot)

    def _on_snapshot(self, docs: Any, changes: Any, read_time: Any) -> None:
        now = time.time()
        with self._cond:
            for change in changes:
                if change.type.name == "ADDED":
                    text = str((change.document.to_dict() or {}).get("question", ""))
                    self.seen.setdefault(normalise_question_text(text), now)
            self._ready = True
            self._cond.notify_all()

    def wait_ready(self, timeout: float) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self._ready, timeout):
                raise RunError("the question listener got no first snapshot")

    def wait_for(self, count: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.seen) >= count, timeout)

    def close(self) -> None:
        self._watch.unsubscribe()


# ----- the model, timed as the worker sees it ----------------------------------------------


class TimedModel:
    """GeminiModel, unchanged, plus when the stream's final event (finish reason) arrived."""

    def __init__(self, inner: GeminiModel) -> None:
        self._inner = inner
        self.model = inner.model
        self.final_chunk_at: float | None = None
        self.chunks = 0

    def clarify(self, learner_prompt: str) -> tuple[ClarifiedIntent, Usage | None]:
        return self._inner.clarify(learner_prompt)

    def stream_questions(
        self, learner_prompt: str, *, topic: str, count: int, existing: list[str]
    ) -> Generator[StreamChunk, None, None]:
        inner = self._inner.stream_questions(
            learner_prompt, topic=topic, count=count, existing=existing
        )
        try:
            for chunk in inner:
                self.chunks += 1
                if chunk.finish_reason is not None:
                    self.final_chunk_at = time.time()
                yield chunk
        finally:
            inner.close()


# ----- the two patterns --------------------------------------------------------------------


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
            store=FirestoreStore(self.plain_db),
            queue=_NoQueue(),
            settings=self.settings,
            clock=utc_now,
        )
        request = CreateRequest(
            user_id=f"bench-worker-u{n:03d}",
            prompt=PROMPT,
            client_ip=f"198.51.100.{n % 250 + 1}",
        )
        return str(service.create(request).stored.job_id)


class _NoQueue:
    """The job is processed in this process, not through Cloud Tasks."""

    def enqueue(self, task_id: str, job_id: str) -> None:
        return None


def process_with_worker(env: Env, job_id: str, model: TimedModel) -> str:
    s = env.settings
    store = WorkerStore(
        env.counted_db,
        lease_seconds=s.lease_seconds,
        transaction_max_attempts=s.transaction_max_attempts,
    )
    worker = WorkerService(store=store, model=model, settings=s, clock=utc_now)
    return worker.process(job_id).outcome


def process_original(env: Env, job_id: str, model: TimedModel) -> str:
    """The seed's pattern: per question an insert and a progress update, status every 10."""
    s, db = env.settings, env.counted_db
    snapshot = env.plain_db.collection(JOBS).document(job_id).get()
    job = Job.model_validate(snapshot.to_dict())
    job_ref = db.collection(JOBS).document(job_id)
    started = utc_now()
    job_ref.update({"status": "processing", "phase": "clarifying", "startedAt": started})
    intent, _ = model.clarify(job.prompt)
    total = clamp_count(
        intent.estimated_count, minimum=s.min_questions_per_job, maximum=s.max_questions_per_job
    )
    topic = intent.topic.strip()[:80] or job.prompt[:80]
    job_ref.update({"topic": topic, "estimatedTotal": total, "phase": "generating"})
    job = job.model_copy(update={"topic": topic, "estimated_total": total})
    parser = StreamParser()
    saved = 0

    def save(items: list[ParsedItem]) -> bool:
        """False once the job was found cancelled."""
        nonlocal saved
        for item in items:
            if not isinstance(item, AcceptedItem):
                continue
            # The worker's own document builder: both patterns write the same documents.
            document = _question_document(job_id, job, item.draft, utc_now())
            _, ref = db.collection(QUESTIONS).add(document)
            saved += 1
            job_ref.update(
                {
                    "questionsGenerated": firestore.Increment(1),
                    "questionsSaved": firestore.Increment(1),
                    "questionIds": firestore.ArrayUnion([ref.id]),
                }
            )
            if saved % ORIGINAL_STATUS_READ_EVERY == 0:
                status = job_ref.get(field_paths=["status"]).get("status")
                if status == "cancelled":
                    return False
        return True

    finish: str | None = None
    chunks = model.stream_questions(job.prompt, topic=topic, count=total, existing=[])
    with contextlib.closing(chunks):
        for chunk in chunks:
            finish = chunk.finish_reason or finish
            if not save(parser.feed(chunk.text)):
                return "cancelled"
    save(parser.finish(complete=finish == "STOP"))
    ended = utc_now()
    job_ref.update(
        {
            "status": "completed",
            "phase": "finalizing",
            "completedAt": ended,
            "durationMs": int((ended - started).total_seconds() * 1000),
        }
    )
    return "completed"


# ----- one measured run ----------------------------------------------------------------------


@dataclass
class RunResult:
    pattern: str
    run: int
    job_id: str
    outcome: str
    saved: int
    wall_s: float
    job_duration_s: float | None  # completedAt - startedAt from the job document
    stream_received_at: float
    last_item_sent_at: float
    final_chunk_at: float | None  # when the worker's model adapter got the final event
    started_at: float
    ended_at: float
    delays: list[float]  # seconds, sentAt -> listener, one per question seen
    sent_to_commit: list[float]  # seconds, sentAt -> commit holding the question answered
    commit_to_listener: list[float]
    missing: int  # streamed questions the listener never saw
    rpcs: list[Rpc]
    job_path: str

    @property
    def stream_s(self) -> float:
        return self.last_item_sent_at - self.stream_received_at

    @property
    def stream_full_s(self) -> float | None:
        if self.final_chunk_at is None:
            return None
        return self.final_chunk_at - self.stream_received_at

    def job_writes(self) -> list[tuple[float, str]]:
        """(answered at, kind) of every successful commit that wrote the job document."""
        out = []
        for rpc in self.rpcs:
            if rpc.method != "Commit" or not rpc.ok:
                continue
            masks = [mask for path, mask, _ in rpc.writes if path == self.job_path]
            if masks:
                out.append((rpc.at, _kind(set().union(*masks))))
        return sorted(out)

    def streaming_window(self) -> tuple[float, float]:
        return self.stream_received_at, self.final_chunk_at or self.last_item_sent_at


def _kind(fields: set[str]) -> str:
    if "status" in fields:
        return "lifecycle"
    if "estimatedTotal" in fields:
        return "plan"
    if fields & {"questionsSaved", "questionsGenerated", "leaseExpiresAt"}:
        return "progress"
    return "other"


def measure(env: Env, pattern: str, run: int) -> RunResult:
    job_id = env.new_job()
    env.admin.reset()
    model = env.model()
    listener = QuestionListener(env.plain_db, job_id)
    try:
        listener.wait_ready(10)
        mark = env.counter.mark()
        started = time.time()
        if pattern == WORKER:
            outcome = process_with_worker(env, job_id, model)
        else:
            outcome = process_original(env, job_id, model)
        ended = time.time()
        rpcs = env.counter.since(mark)
        doc = env.plain_db.collection(JOBS).document(job_id).get().to_dict() or {}
        saved = int(doc.get("questionsSaved", 0))
        complete = listener.wait_for(saved, LISTENER_GRACE_SECONDS)
        seen = dict(listener.seen)
    finally:
        listener.close()
    if outcome != "completed":
        raise RunError(f"{pattern}, run {run}: job {job_id} ended {outcome!r}")
    if not complete:
        raise RunError(f"{pattern}, run {run}: listener saw {len(seen)} of {saved} questions")

    stream = [r for r in env.admin.requests() if r.get("call") == "stream"]
    if len(stream) != 1 or stream[0].get("status") != 200:
        raise RunError(f"{pattern}, run {run}: expected one good stream request, got {stream}")
    events = [e for e in env.admin.events() if e["request"] == stream[0]["n"]]
    if not events:
        raise RunError(f"{pattern}, run {run}: the model server streamed no question")
    sent = {normalise_question_text(e["question"]): float(e["sentAt"]) for e in events}
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
    started_doc, completed_doc = doc.get("startedAt"), doc.get("completedAt")
    return RunResult(
        pattern=pattern,
        run=run,
        job_id=job_id,
        outcome=outcome,
        saved=saved,
        wall_s=ended - started,
        job_duration_s=(
            (completed_doc - started_doc).total_seconds()
            if started_doc is not None and completed_doc is not None
            else None
        ),
        stream_received_at=float(stream[0]["receivedAt"]),
        last_item_sent_at=max(float(e["sentAt"]) for e in events),
        final_chunk_at=model.final_chunk_at,
        started_at=started,
        ended_at=ended,
        delays=delays,
        sent_to_commit=to_commit,
        commit_to_listener=to_listener,
        missing=sum(1 for key in sent if key not in seen),
        rpcs=rpcs,
        job_path=f"{env.counted_db._database_string}/documents/{JOBS}/{job_id}",
    )


# ----- figures -------------------------------------------------------------------------------


def max_in_window(times: list[float], width: float = 1.0) -> int:
    """The most timestamps in any half-open window [t, t + width)."""
    ordered, best, low = sorted(times), 0, 0
    for high, t in enumerate(ordered):
        while t - ordered[low] >= width:
            low += 1
        best = max(best, high - low + 1)
    return best


@dataclass
class Traffic:
    rpcs: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    docs_read: Counter[str] = field(default_factory=Counter)
    docs_missing: Counter[str] = field(default_factory=Counter)
    docs_written: Counter[str] = field(default_factory=Counter)

    def add(self, rpcs: list[Rpc]) -> None:
        for rpc in rpcs:
            self.rpcs[rpc.method] += 1
            if not rpc.ok:
                self.failed[rpc.method] += 1
            self.docs_read[rpc.method] += rpc.docs_found
            self.docs_missing[rpc.method] += rpc.docs_missing
            if rpc.ok:
                self.docs_written[rpc.method] += len(rpc.writes)

    @property
    def writes(self) -> int:
        return self.docs_written.total()

    @property
    def reads(self) -> int:
        return self.docs_read.total()

    @property
    def commits(self) -> int:
        return self.rpcs["Commit"]


def job_write_figures(result: RunResult) -> dict[str, Any]:
    writes = result.job_writes()
    low, high = result.streaming_window()
    during = [t for t, _ in writes if low <= t <= high]
    progress = [t for t, kind in writes if kind == "progress"]
    gaps = [b - a for a, b in itertools.pairwise(progress)]
    span = during[-1] - during[0] if len(during) > 1 else 0.0
    return {
        "writes": len(writes),
        "by_kind": dict(Counter(kind for _, kind in writes)),
        "max_1s_all": max_in_window([t for t, _ in writes]),
        "max_1s_streaming": max_in_window(during),
        "streaming_s": high - low,
        "writes_streaming": len(during),
        "mean_rate_streaming": len(during) / (high - low) if high > low else float("nan"),
        # The rate the writes were paced at: (n - 1) intervals between the first and the last
        # write while streaming. Over a short stream, n writes 1 s apart fill only n - 1
        # seconds, so writes / window overstates a paced rate (3 writes in 2.97 s = 1.01/s).
        "paced_rate_streaming": (len(during) - 1) / span if span > 0 else float("nan"),
        "min_progress_gap_s": min(gaps) if gaps else None,
    }


TIMELINE = (
    ("start/claim written", "first_lifecycle"),
    ("plan written", "plan"),
    ("stream request received", "stream_received"),
    ("first question committed", "first_question"),
    ("last item sent", "last_item_sent"),
    ("final event received", "final_event"),
    ("last question committed", "last_question"),
    ("last progress write", "last_progress"),
    ("completion written", "last_lifecycle"),
    ("returned", "returned"),
)


def timeline(result: RunResult) -> dict[str, float | None]:
    """Milliseconds from the start of the run to each step (None: did not happen)."""
    writes = result.job_writes()
    committed = [
        rpc.at
        for rpc in result.rpcs
        if rpc.method == "Commit" and rpc.ok and any(text for _, _, text in rpc.writes)
    ]

    def first(kind: str) -> float | None:
        return next((t for t, k in writes if k == kind), None)

    def last(kind: str) -> float | None:
        return next((t for t, k in reversed(writes) if k == kind), None)

    points = {
        "first_lifecycle": first("lifecycle"),
        "plan": first("plan"),
        "stream_received": result.stream_received_at,
        "first_question": min(committed, default=None),
        "last_item_sent": result.last_item_sent_at,
        "final_event": result.final_chunk_at,
        "last_question": max(committed, default=None),
        "last_progress": last("progress"),
        "last_lifecycle": last("lifecycle"),
        "returned": result.ended_at,
    }
    return {k: None if v is None else (v - result.started_at) * 1000 for k, v in points.items()}


def ms_summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"n": 0, "p50": float("nan"), "p95": float("nan"), "max": float("nan")}
    return {
        "n": len(ordered),
        "p50": percentile(ordered, 50) * 1000,
        "p95": percentile(ordered, 95) * 1000,
        "max": ordered[-1] * 1000,
    }


def _f(value: float | None, digits: int = 0) -> str:
    return "–" if value is None or value != value else f"{value:.{digits}f}"


def _met(ok: bool) -> str:
    return "[green]met[/]" if ok else "[red]not met[/]"


# ----- the whole run -----------------------------------------------------------------------


@dataclass
class BenchStack:
    firestore: str
    model_url: str
    stack: Stack


@contextlib.contextmanager
def bench_stack(pace_ms: int, console: Console) -> Iterator[BenchStack]:
    """Firestore emulator + offline model server on free ports; both stopped on the way out.

    dev.stack.firestore_emulator() would log to .dev/logs/tests/firestore.log, the file of a
    test session that may be running; the same start_firestore() with our own log directory.
    """
    stack = Stack(StackConfig(project_id=BENCH_PROJECT, log_dir=BENCH_LOG_DIR))
    BENCH_LOG_DIR.mkdir(parents=True, exist_ok=True)
    try:
        for attempt in range(3):  # another process may take the free port first
            port = free_port()
            try:
                start_firestore(stack, "127.0.0.1", port)
                break
            except StackError:
                stack.stop()
                if attempt == 2:
                    raise
        model_port = free_port()
        model = stack.spawn(
            "model",
            [
                sys.executable,
                "-m",
                "dev.model_server",
                "--host",
                "127.0.0.1",
                "--port",
                str(model_port),
                "--pace-ms",
                str(pace_ms),
                "--quiet",
            ],
        )
        model_url = f"http://127.0.0.1:{model_port}"
        admin, deadline = AdminClient(model_url), time.monotonic() + 30
        while not admin.healthy():
            if model.process.poll() is not None or time.monotonic() > deadline:
                raise StackError(f"offline model server did not start; see {model.log_path}")
            time.sleep(0.1)
        console.print(f"Firestore emulator on 127.0.0.1:{port}, offline model on {model_url}.")
        yield BenchStack(f"127.0.0.1:{port}", model_url, stack)
    finally:
        stack.stop()


def run_all(env: Env, runs: int, warmup: bool, console: Console) -> dict[str, list[RunResult]]:
    if warmup:
        # Not counted: the first transactions of a fresh emulator JVM and the first connections
        # are slow; one pass of each pattern at full speed warms both up.
        env.admin.config(paceMs=0)
        for pattern in (WORKER, ORIGINAL):
            job_id = env.new_job()
            model = env.model()
            run = process_with_worker if pattern == WORKER else process_original
            if run(env, job_id, model) != "completed":
                raise RunError(f"warm-up of the {pattern} did not complete")
        env.admin.reset()
    results: dict[str, list[RunResult]] = {WORKER: [], ORIGINAL: []}
    for run in range(1, runs + 1):
        for pattern in (WORKER, ORIGINAL):
            console.print(f"Run {run}/{runs}: {pattern} …")
            results[pattern].append(measure(env, pattern, run))
    return results


def report(
    console: Console, results: dict[str, list[RunResult]], info: dict[str, str]
) -> dict[str, Any]:
    figures: dict[str, Any] = {"setup": info}
    table = Table(title="Per run", title_justify="left")
    for column in (
        "pattern",
        "run",
        "saved",
        "(a) delay p50/p95/max ms",
        "(b) wall s",
        "stream s (last item)",
        "wall/stream",
        "stream s (final event)",
        "wall/stream (final)",
        "completedAt-startedAt s",
        "before stream / after last item s",
    ):
        table.add_column(column, justify="left" if column == "pattern" else "right")
    for pattern, rows in results.items():
        for r in rows:
            d = ms_summary(r.delays)
            full = r.stream_full_s
            table.add_row(
                pattern,
                str(r.run),
                str(r.saved),
                f"{_f(d['p50'])} / {_f(d['p95'])} / {_f(d['max'])}",
                _f(r.wall_s, 2),
                _f(r.stream_s, 2),
                _f(r.wall_s / r.stream_s, 3),
                _f(full, 2),
                _f(r.wall_s / full if full else None, 3),
                _f(r.job_duration_s, 2),
                f"{_f(r.stream_received_at - r.started_at, 3)} / "
                f"{_f(r.ended_at - r.last_item_sent_at, 3)}",
            )
    console.print(table)

    # (a) pooled over runs, with where the time goes.
    delay_table = Table(
        title="(a) Question visible to a listener: delay after the model sent it (ms, all runs)",
        title_justify="left",
    )
    for column in ("pattern", "segment", "n", "p50", "p95", "max"):
        left = column in ("pattern", "segment")
        delay_table.add_column(column, justify="left" if left else "right")
    delay_figures: dict[str, Any] = {}
    for pattern, rows in results.items():
        segments = {
            "sent → listener (total)": [x for r in rows for x in r.delays],
            "sent → commit answered": [x for r in rows for x in r.sent_to_commit],
            "commit answered → listener": [x for r in rows for x in r.commit_to_listener],
        }
        delay_figures[pattern] = {}
        for name, values in segments.items():
            s = ms_summary(values)
            delay_figures[pattern][name] = s
            delay_table.add_row(
                pattern, name, str(s["n"]), _f(s["p50"]), _f(s["p95"]), _f(s["max"])
            )
    console.print(delay_table)
    figures["delay_ms"] = delay_figures

    # (c) Firestore traffic, summed over runs.
    traffic = {pattern: Traffic() for pattern in results}
    for pattern, rows in results.items():
        for r in rows:
            traffic[pattern].add(r.rpcs)
    methods = sorted(set().union(*(t.rpcs for t in traffic.values())))
    rpc_table = Table(
        title=f"(c) Firestore traffic at the gRPC channel ({len(results[WORKER])} run(s) summed)",
        title_justify="left",
    )
    rpc_table.add_column("method")
    for pattern in results:
        rpc_table.add_column(f"{pattern}: RPCs (failed)", justify="right")
        rpc_table.add_column(f"{pattern}: docs read / written", justify="right")
    for method in methods:
        cells = []
        for pattern in results:
            t = traffic[pattern]
            failed = f" ({t.failed[method]})" if t.failed[method] else ""
            missing = f" +{t.docs_missing[method]} missing" if t.docs_missing[method] else ""
            cells += [
                f"{t.rpcs[method]}{failed}",
                f"{t.docs_read[method]}{missing} / {t.docs_written[method]}",
            ]
        rpc_table.add_row(method, *cells)
    rpc_table.add_row(
        "[bold]total[/]",
        *[
            cell
            for pattern in results
            for cell in (
                str(traffic[pattern].rpcs.total()),
                f"{traffic[pattern].reads} / {traffic[pattern].writes}",
            )
        ],
    )
    console.print(rpc_table)
    w, o = traffic[WORKER], traffic[ORIGINAL]
    write_ratio = w.writes / o.writes if o.writes else float("nan")
    commit_ratio = w.commits / o.commits if o.commits else float("nan")
    read_ratio = w.reads / o.reads if o.reads else float("nan")
    saved = sum(r.saved for r in results[WORKER])
    console.print(
        f"Per saved question ({saved} saved by the worker, "
        f"{sum(r.saved for r in results[ORIGINAL])} by the original pattern): worker "
        f"{w.writes / max(1, saved):.2f} document writes, {w.commits / max(1, saved):.2f} commits, "
        f"{w.reads / max(1, saved):.2f} document reads; original "
        f"{o.writes / max(1, saved):.2f} / {o.commits / max(1, saved):.2f} / "
        f"{o.reads / max(1, saved):.2f}. Ratios worker/original: document writes "
        f"{write_ratio:.3f}, commit RPCs {commit_ratio:.3f}, document reads {read_ratio:.3f}."
    )
    figures["traffic"] = {
        pattern: {
            "rpcs": dict(t.rpcs),
            "failed": dict(t.failed),
            "docs_read": dict(t.docs_read),
            "docs_missing": dict(t.docs_missing),
            "docs_written": dict(t.docs_written),
        }
        for pattern, t in traffic.items()
    }
    figures["ratios"] = {"writes": write_ratio, "commits": commit_ratio, "reads": read_ratio}

    # (d) the job document.
    job_table = Table(
        title="(d) Writes to the job document (successful commits, by answer time)",
        title_justify="left",
    )
    for column in (
        "pattern",
        "run",
        "writes (by kind)",
        "max in any 1 s (whole job)",
        "max in any 1 s (while streaming)",
        "while streaming: writes / s = mean rate",
        "paced rate (n-1 gaps)",
        "min gap between progress writes",
    ):
        job_table.add_column(column, justify="left" if column == "pattern" else "right")
    job_figures: dict[str, list[dict[str, Any]]] = {}
    for pattern, rows in results.items():
        job_figures[pattern] = []
        for r in rows:
            j = job_write_figures(r)
            job_figures[pattern].append(j)
            kinds = ", ".join(f"{k} {v}" for k, v in sorted(j["by_kind"].items()))
            job_table.add_row(
                pattern,
                str(r.run),
                f"{j['writes']} ({kinds})",
                str(j["max_1s_all"]),
                str(j["max_1s_streaming"]),
                f"{j['writes_streaming']} / {j['streaming_s']:.2f} = "
                f"{j['mean_rate_streaming']:.2f}/s",
                f"{j['paced_rate_streaming']:.2f}/s",
                "–" if j["min_progress_gap_s"] is None else f"{j['min_progress_gap_s']:.3f} s",
            )
    console.print(job_table)
    figures["job_document"] = job_figures

    steps = Table(
        title="Timeline of each run (ms after process() / the original pattern began)",
        title_justify="left",
    )
    steps.add_column("step")
    for pattern, rows in results.items():
        for r in rows:
            steps.add_column(f"{pattern} {r.run}", justify="right")
    lines = [timeline(r) for rows in results.values() for r in rows]
    for label, key in TIMELINE:
        steps.add_row(label, *(_f(line[key]) for line in lines))
    console.print(steps)
    figures["timeline_ms"] = lines

    # Goals.
    worker_delays = ms_summary([x for r in results[WORKER] for x in r.delays])
    ratios = [r.wall_s / r.stream_s for r in results[WORKER]]
    full_ratios = [r.wall_s / r.stream_full_s for r in results[WORKER] if r.stream_full_s]
    mean_rates = [j["mean_rate_streaming"] for j in job_figures[WORKER]]
    paced_rates = [j["paced_rate_streaming"] for j in job_figures[WORKER]]
    burst = max(j["max_1s_all"] for j in job_figures[WORKER])
    burst_streaming = max(j["max_1s_streaming"] for j in job_figures[WORKER])
    goals = Table(title="Goals (worker)", title_justify="left")
    for column in ("goal", "measured", "verdict"):
        goals.add_column(column)
    verdicts = {
        "a": worker_delays["p50"] <= GOAL_DELAY_P50_MS,
        "b": max(ratios) <= GOAL_WALL_OVER_STREAM,
        "c": write_ratio <= GOAL_WRITE_RATIO,
        "d": max(paced_rates) <= GOAL_JOB_WRITES_PER_S and burst_streaming <= 1,
    }
    goals.add_row(
        f"(a) question visible p50 ≤ {GOAL_DELAY_P50_MS:.0f} ms",
        f"p50 {worker_delays['p50']:.0f} ms (p95 {worker_delays['p95']:.0f}, "
        f"max {worker_delays['max']:.0f}; n={worker_delays['n']})",
        _met(verdicts["a"]),
    )
    goals.add_row(
        f"(b) wall / stream ≤ {GOAL_WALL_OVER_STREAM}",
        f"worst run {max(ratios):.3f} against the last item's sentAt; "
        f"{max(full_ratios):.3f} against the final event"
        if full_ratios
        else f"worst run {max(ratios):.3f}",
        _met(verdicts["b"]),
    )
    goals.add_row(
        f"(c) document writes ≤ {GOAL_WRITE_RATIO}× the original pattern",
        f"{w.writes} vs {o.writes} = {write_ratio:.3f}× (commit RPCs {w.commits} vs "
        f"{o.commits} = {commit_ratio:.3f}×)",
        _met(verdicts["c"]),
    )
    goals.add_row(
        f"(d) job document ≤ {GOAL_JOB_WRITES_PER_S:g} write/s sustained",
        f"while streaming, worst run: paced at {max(paced_rates):.2f}/s, at most "
        f"{burst_streaming} in any 1 s (writes / stream time {max(mean_rates):.2f}/s); over "
        f"the whole job, claim / plan / last batch / completion included: at most {burst} in "
        "any 1 s",
        _met(verdicts["d"]),
    )
    console.print(goals)
    figures["goals"] = verdicts
    figures["runs"] = [
        {
            "pattern": r.pattern,
            "run": r.run,
            "job_id": r.job_id,
            "saved": r.saved,
            "wall_s": r.wall_s,
            "stream_s": r.stream_s,
            "stream_full_s": r.stream_full_s,
            "job_duration_s": r.job_duration_s,
            "delay_ms": ms_summary(r.delays),
            "missing": r.missing,
        }
        for rows in results.values()
        for r in rows
    ]
    return figures


# ----- CLI ---------------------------------------------------------------------------------

cli = typer.Typer(add_completion=False, help=__doc__, rich_markup_mode=None)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@cli.command()
def main(
    questions: int = typer.Option(
        40, min=1, max=78, help="max_questions_per_job (the NATO deck has 78)."
    ),
    pace_ms: int = typer.Option(40, min=0, help="Offline model: delay between streamed chunks."),
    runs: int = typer.Option(1, min=1, max=20, help="Measured runs of each pattern."),
    interval: float | None = typer.Option(
        None, min=0.0, help="progress_write_interval_seconds (default: the Settings default)."
    ),
    warmup: bool = typer.Option(True, help="One uncounted pass of each pattern first."),
    timeout: float = typer.Option(300.0, min=10.0, help="Seconds the whole run may take."),
    json_out: str | None = typer.Option(None, help="Also write the figures to this JSON file."),
) -> None:
    """Measure the worker's streaming saves against the original per-question pattern."""
    console = Console(width=None if sys.stdout.isatty() else 160)
    deadline = time.monotonic() + timeout
    signal.signal(signal.SIGTERM, _raise_interrupt)
    load_before = load_average()
    code = code_version()
    overrides: dict[str, Any] = {"max_questions_per_job": questions}
    if interval is not None:
        overrides["progress_write_interval_seconds"] = interval
    settings = Settings(project_id=BENCH_PROJECT, **overrides)
    info = {
        "date (UTC)": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        "command": "python -m benchmarks.worker_stream " + shlex.join(sys.argv[1:]),
        "machine": f"{os.cpu_count()} CPUs (nproc; {cpu_model()}), {platform.system()} "
        f"{platform.release()}, load avg before {load_before}",
        "python": platform.python_version(),
        "code": code,
        "emulator": f"Firestore emulator {firestore_emulator_version()}",
        "settings": f"job prompt {PROMPT!r}, max_questions_per_job {questions}, "
        f"stream pace {pace_ms} ms/chunk, progress_write_interval_seconds "
        f"{settings.progress_write_interval_seconds:g}, lease {settings.lease_seconds} s, "
        f"{runs} run(s) of each pattern"
        + (", after one uncounted warm-up pass of each at pace 0" if warmup else ""),
        "(a) delay": "model server's sentAt (time.time() after the chunk closing the item was "
        "written) → time.time() in the on_snapshot callback of a second firestore.Client "
        "(own channel) listening to questions where generationJobId == job; matched by "
        "question text. Also split at the answer of the commit that wrote the question.",
        "(b) wall / stream": "wall: WorkerService.process() call to return. Stream: the model "
        "server's receivedAt of the streamGenerateContent request → sentAt of the last item "
        "(also → the final event, as received by the worker's model adapter: the finish "
        "reason arrives one pace after the text, and the parser cannot finish the last item "
        "before it).",
        "(c) traffic": "a grpc client interceptor on the worker's Firestore channel counts RPCs "
        "by method, documents in BatchGetDocuments (found) and RunQuery responses, and writes "
        "in successful Commit requests. Original pattern through the same channel, same "
        "stream: per question add() + update() (separate commits), status get() every "
        f"{ORIGINAL_STATUS_READ_EVERY}, plus processing / plan / completed updates.",
        "(d) job document": "successful commits with a write to the job document, at the time "
        "the commit was answered; most in any half-open 1 s window; while streaming (stream "
        "request received → final event): writes / that time, and the paced rate (n − 1) / "
        "(last − first write). Goal verdict: paced rate ≤ 1/s and never 2 in 1 s while "
        "streaming.",
    }
    status = EXIT_NOT_RUN
    outcome: dict[str, Any] = {}
    previous_host = os.environ.get("FIRESTORE_EMULATOR_HOST")
    try:
        console.print("Starting a private Firestore emulator and offline model server …")
        with bench_stack(pace_ms, console) as bench:
            os.environ["FIRESTORE_EMULATOR_HOST"] = bench.firestore
            counter = RpcCounter()
            env = Env(
                settings=settings,
                counter=counter,
                counted_db=CountedClient(project=BENCH_PROJECT, counter=counter),
                plain_db=firestore.Client(project=BENCH_PROJECT),
                admin=AdminClient(bench.model_url),
                model_url=bench.model_url,
            )

            def body() -> None:
                try:
                    outcome["results"] = run_all(env, runs, warmup, console)
                except BaseException as exc:
                    outcome["error"] = exc

            thread = threading.Thread(target=body, name="bench", daemon=True)
            thread.start()
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                raise RunError(f"not finished within --timeout {timeout:.0f} s")
            if "error" in outcome:
                raise outcome["error"]
            info["load after"] = load_average()
            console.print(setup_table(info))
            figures = report(console, outcome["results"], info)
            if json_out:
                Path(json_out).parent.mkdir(parents=True, exist_ok=True)
                Path(json_out).write_text(json.dumps(figures, indent=2, default=str))
            status = EXIT_OK
    except KeyboardInterrupt:
        console.print("[red]Interrupted; the emulator and the model server were stopped.[/]")
        status = EXIT_INTERRUPTED
    except Exception as exc:
        failure = f"{type(exc).__name__}: {exc}"
        console.print(f"[red bold]The run failed: {escape(failure)}[/]")
        console.print(f"Logs: {BENCH_LOG_DIR.relative_to(ROOT)}/")
        status = EXIT_NOT_RUN
    finally:
        if previous_host is None:
            os.environ.pop("FIRESTORE_EMULATOR_HOST", None)
        else:
            os.environ["FIRESTORE_EMULATOR_HOST"] = previous_host
    raise typer.Exit(status)


def setup_table(info: dict[str, str]) -> Table:
    table = Table(title="What was measured, and how", show_header=False, title_justify="left")
    table.add_column("item", style="bold")
    table.add_column("value")
    for key, value in info.items():
        table.add_row(key, escape(value))
    return table


if __name__ == "__main__":
    cli()
