"""What a run is made of: its constants and goals, its plan, and the record of one run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from benchmarks.firestore_traffic import Rpc
from dev.stack import STATE_DIR

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
PATTERNS = (WORKER, ORIGINAL)


class RunError(RuntimeError):
    pass


@dataclass(frozen=True)
class Plan:
    """The run, as the command line asked for it."""

    questions: int  # max_questions_per_job
    pace_ms: int  # offline model: delay between streamed chunks
    runs: int  # measured runs of each pattern
    interval: float | None  # progress_write_interval_seconds; None: the Settings default
    warmup: bool
    timeout: float  # seconds the whole run may take


class Delays(NamedTuple):
    """Seconds per question, from the model server's sentAt."""

    sent_to_listener: list[float]  # sentAt -> listener, one per question seen
    sent_to_commit: list[float]  # sentAt -> commit holding the question answered
    commit_to_listener: list[float]


@dataclass
class RunResult:
    pattern: str
    run: int
    job_id: str
    saved: int
    job_duration_s: float | None  # completedAt - startedAt from the job document
    stream_received_at: float
    last_item_sent_at: float
    final_chunk_at: float | None  # when the worker's model adapter got the final event
    started_at: float
    ended_at: float
    delays: Delays
    missing: int  # streamed questions the listener never saw
    rpcs: list[Rpc]
    job_path: str

    @property
    def wall_s(self) -> float:
        return self.ended_at - self.started_at

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
                out.append((rpc.at, write_kind(set().union(*masks))))
        return sorted(out)

    def streaming_window(self) -> tuple[float, float]:
        return self.stream_received_at, self.final_chunk_at or self.last_item_sent_at


def write_kind(fields: set[str]) -> str:
    """What a write to the job document was, by the fields it wrote."""
    if "status" in fields:
        return "lifecycle"
    if "estimatedTotal" in fields:
        return "plan"
    if fields & {"questionsSaved", "questionsGenerated", "leaseExpiresAt"}:
        return "progress"
    return "other"
