"""One round: K jobs delivered at once to the worker process, each watched by a Listen stream of
its own, then matched with the model server's record of its stream."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qgen.adapters.firestore.names import JOBS
from qgen.domain.questions import normalise_question_text

from benchmarks.capacity_sweep.light_listener import LightListeners, QuestionStream
from benchmarks.capacity_sweep.plan import JobResult
from benchmarks.worker_streaming.model import (
    LISTENER_GRACE_SECONDS,
    PROMPT,
    STREAM_RECORD_WAIT_SECONDS,
    RunError,
)
from benchmarks.worker_streaming.patterns import Env

DELIVERY_TIMEOUT_SECONDS = 300.0
# Each job asks for the same deck in its own words, so that the model server's record of the
# learner's request tells the K identical streams apart.
JOB_TAG = re.compile(r"capacity job #(\d+)\)")


@dataclass
class Rig:
    """What a round needs: the benchmark's clients, where the worker listens, its queue."""

    env: Env  # job creation and read-back (plain_db), the model server's admin API
    worker_url: str
    queue: str  # X-CloudTasks-QueueName, which the local caller check accepts
    cpu: Callable[[], dict[str, float]]  # CPU seconds so far, by process and the machine's
    listeners: LightListeners  # the questions as they reach a client


@dataclass
class Round:
    jobs: list[JobResult]
    seconds: float  # the first delivery sent -> the last answer
    cpu: dict[str, float]  # CPU seconds spent meanwhile (not while jobs were set up)


def prompt_of(index: int) -> str:
    return f"{PROMPT} (capacity job #{index})"


def deliver(rig: Rig, job_id: str) -> str:
    """One Cloud Tasks delivery, as the emulator makes it; the worker's outcome."""
    request = urllib.request.Request(
        rig.worker_url,
        data=json.dumps({"jobId": job_id}).encode(),
        headers={"Content-Type": "application/json", "X-CloudTasks-QueueName": rig.queue},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT_SECONDS) as answer:
            return str(json.loads(answer.read()).get("outcome", "?"))
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except OSError as exc:
        return f"{type(exc).__name__}"


def deliver_all(rig: Rig, job_ids: list[str], rate: float) -> list[tuple[str, float, float]]:
    """All deliveries from threads released together, job i after i / rate seconds (rate 0:
    all at once); (outcome, posted, answered) per job."""
    k = len(job_ids)
    out: list[tuple[str, float, float]] = [("not sent", 0.0, 0.0)] * k
    gate = threading.Barrier(k)

    def one(i: int) -> None:
        gate.wait()
        time.sleep(i / rate if rate else 0.0)
        posted = time.time()
        outcome = deliver(rig, job_ids[i])
        out[i] = (outcome, posted, time.time())

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(k)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out


def streams_by_job(
    requests: list[dict[str, Any]], events: list[dict[str, Any]]
) -> dict[int, tuple[float, dict[str, float]]]:
    """Job index -> (receivedAt of its stream request, normalised question -> sentAt)."""
    out: dict[int, tuple[float, dict[str, float]]] = {}
    for record in requests:
        tag = JOB_TAG.search(str(record.get("learnerRequest") or ""))
        if record.get("call") != "stream" or tag is None:
            continue
        sent = {
            normalise_question_text(e["question"]): float(e["sentAt"])
            for e in events
            if e["request"] == record["n"]
        }
        out[int(tag.group(1))] = (float(record["receivedAt"]), sent)
    return out


def recorded_streams(rig: Rig, k: int) -> dict[int, tuple[float, dict[str, float]]]:
    """Every job's stream record. A stream the worker closed at its planned count is recorded
    once the model server notices the client gone (at its next write), which can come after the
    delivery was answered: wait a moment for the K records."""
    deadline = time.monotonic() + STREAM_RECORD_WAIT_SECONDS
    while True:
        streams = streams_by_job(rig.env.admin.requests(), rig.env.admin.events())
        if len(streams) >= k or time.monotonic() > deadline:
            return streams
        time.sleep(0.05)


def job_result(
    job_id: str,
    delivery: tuple[str, float, float],
    stream: tuple[float, dict[str, float]] | None,
    saved: int,
    seen: dict[str, float],
) -> JobResult:
    outcome, posted, answered = delivery
    received, sent = stream if stream else (None, {})
    return JobResult(
        job_id=job_id,
        outcome=outcome,
        saved=saved,
        posted_at=posted,
        answered_at=answered,
        stream_received_at=received,
        last_sent_at=max(sent.values(), default=None),
        visible_s=[seen[key] - at for key, at in sent.items() if key in seen],
        missing=sum(1 for key in sent if key not in seen),
    )


def run_round(rig: Rig, k: int, rate: float) -> Round:
    """K jobs, each of its own learner (so no per-learner limit applies), each listened to
    before it exists; delivered together; measured once every answer is in."""
    rig.env.admin.reset()  # the model's defaults, and only this round's records
    rig.env.fresh_database()  # no listener is attached between rounds
    listeners: list[QuestionStream] = []
    try:
        job_ids = []
        for i in range(k):
            user = rig.env.new_user()
            listeners.append(rig.listeners.listen("userId", user))
            job_ids.append(rig.env.new_job(user, prompt_of(i))[0])
        cpu_before = rig.cpu()
        deliveries = deliver_all(rig, job_ids, rate)
        cpu = {name: v - cpu_before[name] for name, v in rig.cpu().items()}
        seconds = max(d[2] for d in deliveries) - min(d[1] for d in deliveries)
        streams = recorded_streams(rig, k)
        results = []
        for i, (job_id, listener) in enumerate(zip(job_ids, listeners, strict=True)):
            doc = rig.env.plain_db.collection(JOBS).document(job_id).get().to_dict() or {}
            saved = int(doc.get("questionsSaved", 0))
            listener.wait_for(saved, LISTENER_GRACE_SECONDS)
            results.append(job_result(job_id, deliveries[i], streams.get(i), saved, listener.seen))
        return Round(results, seconds, cpu)
    finally:
        for listener in listeners:
            rig.listeners.close(listener)


def warm_up(rig: Rig, k: int, pace_ms: int = 0) -> None:
    """Not counted: the worker process builds its wiring and opens its connections on the
    first delivery, and a fresh emulator JVM is slow at first; K jobs at full speed first."""
    rig.env.admin.reset()
    rig.env.admin.config(paceMs=pace_ms)
    job_ids = [rig.env.new_job(rig.env.new_user(), prompt_of(i))[0] for i in range(k)]
    outcomes = [outcome for outcome, _, _ in deliver_all(rig, job_ids, 0.0)]
    if any(outcome != "completed" for outcome in outcomes):
        raise RunError(f"warm-up jobs ended {outcomes}")
    rig.env.admin.reset()
