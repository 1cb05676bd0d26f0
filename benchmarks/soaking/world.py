"""What the soak left behind, read once at the end: every document it touched, and every
structured log event of the functions."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qgen.adapters.firestore.names import ACTIVE_COUNTERS, JOBS, QUESTIONS, TOKEN_BUDGETS

from benchmarks.soaking.drivers import Ledger


@dataclass(frozen=True)
class Doc:
    id: str
    data: dict[str, Any]
    create_time: datetime
    update_time: datetime  # the commit time of its last write (Firestore's, not a client's)


@dataclass
class World:
    jobs: dict[str, Doc]
    questions: dict[str, Doc]
    counters: dict[str, int]
    budgets: dict[str, dict[str, Any]]
    events: list[dict[str, Any]]
    # From the learners: cancel commit times, owner retries accepted.
    cancel_commits: dict[str, datetime] = field(default_factory=dict)
    retried: dict[str, int] = field(default_factory=dict)
    # Log file stem of each SIGKILLed worker process -> when it was killed.
    kills: dict[str, datetime] = field(default_factory=dict)
    read_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def questions_of(self) -> dict[str, list[Doc]]:
        """Question documents by the job they name."""
        by_job: dict[str, list[Doc]] = {job_id: [] for job_id in self.jobs}
        for doc in self.questions.values():
            by_job.setdefault(str(doc.data.get("generationJobId")), []).append(doc)
        return by_job


def read_world(db: Any, logs: list[Path], ledger: Ledger, kills: dict[str, datetime]) -> World:
    """Every document of the soak's project and every log event; db is a firestore.Client."""
    with ledger.lock:
        cancels, retried = dict(ledger.cancel_commits), dict(ledger.retried)
    return World(
        jobs=_docs(db, JOBS),
        questions=_docs(db, QUESTIONS),
        counters={
            d.id: int(d.data.get("activeJobs", 0)) for d in _docs(db, ACTIVE_COUNTERS).values()
        },
        budgets={d.id: d.data for d in _docs(db, TOKEN_BUDGETS).values()},
        events=read_events(logs),
        cancel_commits=cancels,
        retried=retried,
        kills=dict(kills),
    )


def _docs(db: Any, collection: str) -> dict[str, Doc]:
    return {
        s.id: Doc(s.id, s.to_dict() or {}, s.create_time, s.update_time)
        for s in db.collection(collection).stream()
    }


def read_events(logs: list[Path]) -> list[dict[str, Any]]:
    """The structured lines (qgen/logs.py: one JSON object per line) that carry an event."""
    events = []
    for path in logs:
        for line in path.read_text(errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("event"):
                events.append({**entry, "source": path.stem})
    return events
