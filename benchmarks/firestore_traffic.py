"""Firestore traffic counted at the gRPC channel, for the benchmarks.

A stock ``firestore.Client`` whose emulator channel passes through a client interceptor that
records every RPC: its method, outcome, the documents its responses carried and, for Commit
and BatchWrite, the documents it wrote.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.cloud import firestore


@dataclass
class Rpc:
    method: str  # e.g. "Commit"
    started: float  # time.time()
    ended: float | None = None
    code: str = "?"
    # Documents in the responses: BatchGetDocuments "found" (and "missing"), RunQuery results.
    docs_found: int = 0
    docs_missing: int = 0
    # Commit only: the request's writes as (document path, fields written, question text).
    writes: list[tuple[str, tuple[str, ...], str]] = field(default_factory=list)
    # BatchGetDocuments only: it began a transaction (``new_transaction``).
    begins: bool = False

    @property
    def ok(self) -> bool:
        return self.code == "OK"

    @property
    def at(self) -> float:
        """When the call was answered (when its writes took effect)."""
        return self.ended if self.ended is not None else self.started


def _write_of(write: Any) -> tuple[str, tuple[str, ...], str]:
    """(document path, update mask, question text if any) of one Write."""
    operation = write.WhichOneof("operation")
    if operation == "update":
        fields = write.update.fields
        text = fields["question"].string_value if "question" in fields else ""
        # Increment / ArrayUnion travel as update_transforms, outside the update mask.
        paths = [*write.update_mask.field_paths, *(t.field_path for t in write.update_transforms)]
        return write.update.name, tuple(paths), text
    if operation == "delete":
        return write.delete, ("<delete>",), ""
    if operation == "transform":
        return write.transform.document, ("<transform>",), ""
    return "", (), ""


class _CountedStream:
    """A server-streaming call whose responses are counted as they are read."""

    def __init__(self, call: Any, rpc: Rpc) -> None:
        self._call = call
        self._rpc = rpc
        # Callers often stop reading once they have what they asked for (a single get()), so
        # the call's status is taken when gRPC reports the call done, not at StopIteration.
        if not call.add_callback(self._done):  # False: the call has already ended
            self._done()

    def _done(self) -> None:
        if self._rpc.ended is None:
            self._rpc.ended = time.time()
        with contextlib.suppress(Exception):
            self._rpc.code = self._call.code().name

    def __iter__(self) -> _CountedStream:
        return self

    def __next__(self) -> Any:
        try:
            response = next(self._call)
        except StopIteration:
            self._rpc.ended = self._rpc.ended or time.time()
            raise
        pb = getattr(response, "_pb", response)
        if self._rpc.method == "BatchGetDocuments":
            result = pb.WhichOneof("result")
            self._rpc.docs_found += result == "found"
            self._rpc.docs_missing += result == "missing"
        elif self._rpc.method == "RunQuery" and pb.HasField("document"):
            self._rpc.docs_found += 1
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._call, name)


class RpcCounter(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Records every RPC of one channel: method, outcome, documents read and written."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rpcs: list[Rpc] = []

    def _start(self, details: Any) -> Rpc:
        rpc = Rpc(method=str(details.method).rsplit("/", 1)[-1], started=time.time())
        with self._lock:
            self.rpcs.append(rpc)
        return rpc

    def mark(self) -> int:
        with self._lock:
            return len(self.rpcs)

    def since(self, mark: int) -> list[Rpc]:
        with self._lock:
            return list(self.rpcs[mark:])

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        rpc = self._start(details)
        if rpc.method in ("Commit", "BatchWrite"):
            rpc.writes = [_write_of(w) for w in getattr(request, "_pb", request).writes]
        outcome = continuation(details, request)
        rpc.ended = time.time()
        try:
            outcome.result()
            rpc.code = "OK"
        except grpc.RpcError as exc:
            rpc.code = exc.code().name
        return outcome

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        rpc = self._start(details)
        pb = getattr(request, "_pb", request)
        rpc.begins = rpc.method == "BatchGetDocuments" and pb.HasField("new_transaction")
        return _CountedStream(continuation(details, request), rpc)

    def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        rpc = self._start(details)
        outcome = continuation(details, requests)
        rpc.ended, rpc.code = time.time(), "?"
        return outcome

    def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        self._start(details)  # Listen/Write: not used by the worker; counted as calls only
        return continuation(details, requests)


class CountedClient(firestore.Client):  # type: ignore[misc]
    """A stock firestore.Client whose emulator channel passes through ``counter``.

    The client builds its gRPC channel in one place, ``_emulator_channel`` when
    FIRESTORE_EMULATOR_HOST is set; wrapping what it returns keeps the library's channel
    options, metadata (``authorization: Bearer owner``), retries and transports untouched.
    """

    def __init__(self, *, project: str, counter: RpcCounter) -> None:
        self._counter = counter
        super().__init__(project=project)

    def _emulator_channel(self, transport: Any) -> Any:
        return grpc.intercept_channel(super()._emulator_channel(transport), self._counter)
