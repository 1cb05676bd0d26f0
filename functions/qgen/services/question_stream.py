"""One attempt's question stream: model text -> parser -> progress writer, until it ends."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from ..config import Settings
from ..domain.failures import FailureCode, ModelError
from ..domain.jobs import Job, Usage
from ..domain.questions import normalise_question_text
from ..domain.stream_parser import AcceptedItem, ParsedItem, StreamFormatError, StreamParser
from .attempt_writes import AttemptWrites
from .ports import JobReader, Model
from .progress_writer import CommitPolicy, ProgressWriter


class QuestionStream:
    def __init__(
        self, model: Model, writes: AttemptWrites, reader: JobReader, *, settings: Settings
    ) -> None:
        self._model = model
        self._writes = writes
        self._reader = reader
        self._policy = CommitPolicy(
            interval=settings.progress_write_interval_seconds,
            heartbeat=settings.lease_seconds / 3,
        )
        self.usage: Usage | None = None
        self.saved = 0
        self.rejected = 0

    def run(self, job: Job, remaining: int) -> None:
        """Stream ``remaining`` questions into the job. Raises ModelError when the model
        failed and AttemptStoppedError when the job was cancelled or the lease lost."""
        existing = self._reader.question_texts(job.question_ids)
        parser = StreamParser(seen={normalise_question_text(q) for q in existing})
        writer = ProgressWriter(self._writes, self._policy)
        writer.start()
        finalizing = False
        try:
            chunks = self._model.stream_questions(
                job.prompt, topic=job.topic or "", count=remaining, existing=existing
            )
            with contextlib.closing(chunks):
                for chunk in chunks:
                    if writer.stopped:
                        break
                    self.usage = chunk.usage or self.usage
                    _hand_over(writer, _parse(parser.feed, chunk.text))
                else:  # the model finished its answer: the last item is whole
                    _hand_over(writer, _parse(lambda _: parser.finish(complete=True), ""))
                    if parser.accepted == 0:
                        raise ModelError(
                            FailureCode.SCHEMA_VALIDATION, "no valid question in the stream"
                        )
                    finalizing = True
        finally:
            try:
                writer.close(finalizing=finalizing)
            finally:
                self.saved = writer.saved_this_attempt
                self.rejected = parser.rejected_total


def _parse(step: Callable[[str], list[ParsedItem]], text: str) -> list[ParsedItem]:
    try:
        return step(text)
    except StreamFormatError as exc:
        raise ModelError(FailureCode.SCHEMA_VALIDATION, "output is not a JSON array") from exc


def _hand_over(writer: ProgressWriter, items: list[ParsedItem]) -> None:
    drafts = [i.draft for i in items if isinstance(i, AcceptedItem)]
    writer.add(drafts, generated=len(items), rejected=len(items) - len(drafts))
