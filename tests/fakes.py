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

    def enqueue(self, task_id: str, job_id: str) -> None:
        self.attempts += 1
        if self.fail_with is not None:
            raise QueueUnavailableError(self.fail_with)
        # Cloud Tasks keeps a task name reserved after creation: the same name is a no-op.
        self.tasks.setdefault(task_id, job_id)
