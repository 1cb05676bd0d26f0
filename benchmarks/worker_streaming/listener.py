"""What a client sees: a listener on a separate client, timing each new question document.

It listens to the questions of the job's user (each job has a user of its own), so it can be
listening before the job exists: "job created -> first question visible" needs that.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from google.cloud import firestore
from google.cloud.firestore import FieldFilter
from qgen.adapters.firestore.names import QUESTIONS
from qgen.domain.questions import normalise_question_text

from benchmarks.worker_streaming.model import RunError


class QuestionListener:
    """``questions where userId == user`` with on_snapshot; time.time() per new document."""

    def __init__(self, db: firestore.Client, user_id: str) -> None:
        self.seen: dict[str, float] = {}
        self._cond = threading.Condition()
        self._ready = False
        query = db.collection(QUESTIONS).where(filter=FieldFilter("userId", "==", user_id))
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
