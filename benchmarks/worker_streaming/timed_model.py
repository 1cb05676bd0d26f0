"""The model, timed as the worker sees it: GeminiModel plus when its final event arrived."""

from __future__ import annotations

import time
from collections.abc import Generator

from qgen.adapters.gemini import GeminiModel
from qgen.domain.prompts import GenerationRequest
from qgen.domain.stream_parser import AcceptedItem, StreamParser
from qgen.services.ports import StreamChunk


class TimedModel:
    """GeminiModel, unchanged, plus when each chunk and the final event arrived.

    The chunks are only noted (time, text); parsing them again to learn when each question
    was finished is done after the run (`parsed_times`), so the worker pays nothing for it."""

    def __init__(self, inner: GeminiModel) -> None:
        self._inner = inner
        self.model = inner.model
        self.final_chunk_at: float | None = None
        self.received: list[tuple[float, str]] = []

    def stream_questions(self, request: GenerationRequest) -> Generator[StreamChunk, None, None]:
        inner = self._inner.stream_questions(request)
        # GeminiModel yields one chunk per streamed event, the last one (with the finish
        # reason) included, and ends normally only if the model finished (STOP). So the final
        # event's arrival is the time of the last chunk received, kept once the stream has
        # ended normally (None if it did not, or if the reader closed it at the cap).
        last_chunk_at: float | None = None
        try:
            for chunk in inner:
                last_chunk_at = time.time()
                self.received.append((last_chunk_at, chunk.text))
                yield chunk
            self.final_chunk_at = last_chunk_at
        finally:
            inner.close()


def parsed_times(received: list[tuple[float, str]], *, complete: bool) -> dict[str, float]:
    """Normalised question text -> when the chunk that let the parser finish it arrived.

    The worker's parser, replayed on the same chunks: an item is finished at the chunk that
    closed it (or began the next); one left open, at the final event (``complete``: the
    stream ended with STOP)."""
    parser = StreamParser(envelope=True)
    times: dict[str, float] = {}
    for at, text in received:
        for item in parser.feed(text):
            if isinstance(item, AcceptedItem):
                times.setdefault(item.key, at)
    if complete and received:
        for item in parser.finish(complete=True):
            if isinstance(item, AcceptedItem):
                times.setdefault(item.key, received[-1][0])
    return times
