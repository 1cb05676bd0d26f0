"""The model, timed as the worker sees it: GeminiModel plus when its final event arrived."""

from __future__ import annotations

import time
from collections.abc import Generator

from qgen.adapters.gemini import GeminiModel
from qgen.domain.jobs import Usage
from qgen.domain.prompts import ClarifiedIntent
from qgen.services.ports import StreamChunk


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
        # StreamChunk no longer carries the finish reason: GeminiModel yields one chunk per
        # streamed event, the last one included (the event with the finish reason), and then
        # ends normally only if the model finished (STOP), else raises ModelError. So the
        # final event's arrival is the time of the last chunk received, kept once the stream
        # has ended normally (None if it never did, as when no finish reason came before).
        # The quantity measured, the model's last byte as the worker received it, is the same.
        last_chunk_at: float | None = None
        try:
            for chunk in inner:
                self.chunks += 1
                last_chunk_at = time.time()
                yield chunk
            self.final_chunk_at = last_chunk_at
        finally:
            inner.close()
