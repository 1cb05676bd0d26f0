"""In-memory stand-ins for adapters, for unit tests only.

The Cloud Tasks fake is faithful where the emulator is not: task names are deduplicated
(a second create of the same name is ALREADY_EXISTS, which the real adapter reports as
success), and failures can be injected.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qgen.adapters.task_queue import QueueUnavailableError


@dataclass
class InMemoryTaskQueue:
    tasks: dict[str, str] = field(default_factory=dict)
    attempts: int = 0
    fail_with: str | None = None

    def enqueue(self, task_id: str, job_id: str) -> bool:
        self.attempts += 1
        if self.fail_with is not None:
            raise QueueUnavailableError(self.fail_with)
        # Cloud Tasks keeps a task name reserved after creation: the same name is a no-op.
        if task_id in self.tasks:
            return False
        self.tasks[task_id] = job_id
        return True


@dataclass
class RecordingBatchStore:
    """Stands in for WorkerStore.save_batch: records when each commit happened and what it held.

    ``cancel_after`` commits, it answers CANCELLED as the real store does for a cancelled job.
    """

    commits: list[tuple[float, int, bool]] = field(default_factory=list)
    cancel_after: int | None = None
    saved: int = 0

    def save_batch(self, lease, drafts, *, generated, rejected, now, finalizing=False):  # type: ignore[no-untyped-def]
        import time

        from qgen.adapters.worker_store import BatchResult, WriteOutcome

        if self.cancel_after is not None and len(self.commits) >= self.cancel_after:
            self.commits.append((time.monotonic(), -1, finalizing))
            return BatchResult(WriteOutcome.CANCELLED)
        self.commits.append((time.monotonic(), len(drafts), finalizing))
        self.saved += len(drafts)
        return BatchResult(WriteOutcome.WRITTEN, self.saved)
