"""The capacity benchmark's listener: Firestore's raw Listen RPC, one stream per job, all of
them on one asyncio thread; it notes when each question document reaches the client and does
nothing more.

Why not on_snapshot (benchmarks/worker_streaming/listener.py): google-cloud-firestore's Watch
rebuilds and sorts a full snapshot of DocumentSnapshots on every change, so K listeners cost
more with every question saved; on a 2-core machine they took most of a core next to the worker
under test, and their lag was measured as the service's. In production listeners run on the
learners' devices. Here a message is stamped with time.time() as it is read off the stream and
a document_change keeps only its question text: no snapshot, no sorting, no DocumentSnapshot.

The stamp is the stream's next consistent point after the document_change: the target_change
with a read_time and no target ids, which says every target of the stream is consistent at that
read_time. That is the moment a client SDK raises the snapshot that holds the question (what the
learner's app renders); what it then spends building the snapshot is the device's own work. On
the emulator that work is not small: every commit to the collection RESETs each listener's
target and sends all of its documents again (production sends the changes), so a snapshot
listener rebuilds its whole result per commit.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future
from typing import Any

import grpc
from google.cloud.firestore_v1.types import document, firestore, query
from qgen.adapters.firestore.names import QUESTIONS
from qgen.domain.questions import normalise_question_text

from benchmarks.worker_streaming.model import RunError

LISTEN = "/google.firestore.v1.Firestore/Listen"
TARGET_ID = 0x0C4B  # ours to choose; a document_change names the targets it belongs to
NO_CHANGE = int(firestore.TargetChange.TargetChangeType.NO_CHANGE)
CURRENT = int(firestore.TargetChange.TargetChangeType.CURRENT)
REMOVE = int(firestore.TargetChange.TargetChangeType.REMOVE)
# The raw protobuf class (upb): decoding into proto-plus wrappers would be work for nothing.
RAW_RESPONSE: Any = firestore.ListenResponse.pb()
POLL_SECONDS = 0.05
Filter = query.StructuredQuery.FieldFilter


def listen_request(database: str, field: str, value: str) -> firestore.ListenRequest:
    """Add the target `questions where field == value` (the same query on_snapshot sends)."""
    structured = query.StructuredQuery(
        from_=[query.StructuredQuery.CollectionSelector(collection_id=QUESTIONS)],
        where=query.StructuredQuery.Filter(
            field_filter=Filter(
                field=query.StructuredQuery.FieldReference(field_path=field),
                op=Filter.Operator.EQUAL,
                value=document.Value(string_value=value),
            )
        ),
    )
    target = firestore.Target(
        query=firestore.Target.QueryTarget(
            parent=f"{database}/documents", structured_query=structured
        ),
        target_id=TARGET_ID,
    )
    return firestore.ListenRequest(database=database, add_target=target)


def question_of(response: Any) -> str | None:
    """The `question` field of a document that entered or changed in our target; else None."""
    if response.WhichOneof("response_type") != "document_change":
        return None
    change = response.document_change
    fields = change.document.fields
    if TARGET_ID not in change.target_ids or "question" not in fields:
        return None
    return str(fields["question"].string_value)


def target_change(response: Any) -> int | None:
    """The target_change type of a message (CURRENT, REMOVE, …), None for any other message."""
    if response.WhichOneof("response_type") != "target_change":
        return None
    return int(response.target_change.target_change_type)


def consistent_point(response: Any) -> bool:
    """A target_change that says the whole stream is consistent at its read_time."""
    if target_change(response) != NO_CHANGE:
        return False
    change = response.target_change
    return change.HasField("read_time") and not change.target_ids


class QuestionStream:
    """One job's questions: raw question text -> time.time() of the first consistent point
    after it reached us."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self._pending: list[str] = []  # received, not yet at a consistent point
        self.current = threading.Event()
        self.error: str | None = None
        self.task: Future[None] | None = None

    def take(self, response: Any, now: float) -> None:
        """Runs on the listeners' thread for every message, so it stays this small; the text is
        normalised only once the round is over (seen)."""
        text = question_of(response)
        if text is not None:
            if text not in self.arrivals:
                self._pending.append(text)
            return
        if consistent_point(response):
            for pending in self._pending:
                self.arrivals.setdefault(pending, now)
            self._pending.clear()
            return
        kind = target_change(response)
        if kind == REMOVE:
            self.error = f"target removed: {response.target_change.cause.message}"
        if kind in (CURRENT, REMOVE):
            self.current.set()

    def wait_ready(self, timeout: float) -> None:
        """Until the server says the target is current: a job created after it is seen whole."""
        if not self.current.wait(timeout) or self.error:
            raise RunError(f"the question stream did not become current ({self.error})")

    def wait_for(self, count: int, timeout: float) -> bool:
        # Polled, not notified: called once a round's jobs have answered, so waking the reader
        # on every message would be work on the hot path for nothing.
        end = time.monotonic() + timeout
        while len(self.arrivals) < count and time.monotonic() < end:
            time.sleep(POLL_SECONDS)
        return len(self.arrivals) >= count

    @property
    def seen(self) -> dict[str, float]:
        """Normalised question -> first arrival (as the model server's record is keyed)."""
        out: dict[str, float] = {}
        for text, at in dict(self.arrivals).items():
            out.setdefault(normalise_question_text(text), at)
        return out


class LightListeners:
    """Question streams on one channel to the emulator, read by one asyncio thread."""

    def __init__(self, host: str, project: str, database: str = "(default)") -> None:
        self.database = f"projects/{project}/databases/{database}"
        # What the library's emulator client sends: its resource prefix and the emulator's
        # admin token ("owner"), which lets the listener past the security rules.
        self._metadata = (
            ("google-cloud-resource-prefix", self.database),
            ("authorization", "Bearer owner"),
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="light-listeners", daemon=True
        )
        self._thread.start()
        self._channel: Any = self._on_loop(self._open(host)).result(10)

    def _on_loop(self, coroutine: Any) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    async def _open(self, host: str) -> Any:
        # A grpc.aio channel belongs to the loop it is made on.
        return grpc.aio.insecure_channel(host)

    def listen(self, field: str, value: str, timeout: float = 10.0) -> QuestionStream:
        """A stream on `questions where field == value`, current before it is returned."""
        stream = QuestionStream()
        request = listen_request(self.database, field, value)
        stream.task = self._on_loop(self._follow(stream, request))
        stream.wait_ready(timeout)
        return stream

    async def _follow(self, stream: QuestionStream, request: firestore.ListenRequest) -> None:
        call = self._channel.stream_stream(
            LISTEN,
            request_serializer=firestore.ListenRequest.serialize,
            response_deserializer=RAW_RESPONSE.FromString,
        )(metadata=self._metadata)
        try:
            await call.write(request)
            async for response in call:
                stream.take(response, time.time())
        except grpc.RpcError as exc:
            stream.error = f"{exc.code()}: {exc.details()}"
            stream.current.set()
        finally:
            call.cancel()

    def close(self, stream: QuestionStream) -> None:
        if stream.task is not None:
            stream.task.cancel()  # cancels the task on the loop, whose finally ends the call

    def shutdown(self) -> None:
        try:
            self._on_loop(self._channel.close()).result(10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
