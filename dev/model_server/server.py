"""The HTTP server: Gemini's generateContent / streamGenerateContent, and an admin API.

Model endpoints (any API version `v1`, `v1beta`, `v1alpha`; the API key is accepted and
ignored):

    POST /{version}/models/{model}:generateContent            clarify (docs/model-protocol.md §1)
    POST /{version}/models/{model}:streamGenerateContent?alt=sse   generate (§2)

Admin endpoints (JSON; see dev/model_server/README.md for every shape):

    GET    /_admin/health               {"status": "ok", "decks": {...}}
    GET    /_admin/faults               {"pending": [...]}
    POST   /_admin/faults               append faults (a list, {"faults": [...]} or one object)
    DELETE /_admin/faults               drop every pending fault
    GET    /_admin/stats                call counts
    GET    /_admin/events               per streamed item: {"question", "index", "sentAt", ...}
    GET    /_admin/requests             what each model request asked for
    GET    /_admin/config               {"paceMs", "firstChunkMs", "finalEvent", "seed"}
    POST   /_admin/config               change any of those (until reset)
    GET    /_admin/decks                the bundled decks, questions included
    POST   /_admin/reset                faults, counts, events, requests and config back to start
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import random
import select
import socket
import struct
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from .decks import DECKS, Deck, detect_topic
from .faults import Fault, FaultSpecError, parse_faults
from .protocol import (
    ASKED_COUNT,
    MODEL_PATH,
    ApiError,
    Call,
    ModelRequest,
    blocked_prompt_feedback,
    candidate,
    estimate_tokens,
    json_body,
    parse_request,
    response,
    sse_event,
    unknown_topic_error,
    usage,
)
from .stream import Pause, StreamPlan, TextChunk, plan_stream, select_questions

log = logging.getLogger("dev.model_server")

FinalEvent = Literal["separate", "merged"]
CALL_NAMES: dict[Call, str] = {"clarify": "generateContent", "stream": "streamGenerateContent"}
# Header a caller can set (HttpOptions(headers=...)) to pace one request.
PACE_HEADER = "x-offline-pace-ms"
# A long-running local server keeps at most this many events and request records.
MAX_RECORDS = 100_000


@dataclass
class Settings:
    """Server-wide behaviour; the CLI sets the defaults, POST /_admin/config changes them."""

    pace_ms: int = 40
    first_chunk_ms: int = 0
    final_event: FinalEvent = "separate"
    seed: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "paceMs": self.pace_ms,
            "firstChunkMs": self.first_chunk_ms,
            "finalEvent": self.final_event,
            "seed": self.seed,
        }

    def updated(self, changes: object) -> Settings:
        if not isinstance(changes, dict):
            raise ValueError("expected a JSON object")
        names = {"paceMs": "pace_ms", "firstChunkMs": "first_chunk_ms", "seed": "seed"}
        unknown = set(changes) - set(names) - {"finalEvent"}
        if unknown:
            raise ValueError(
                f"unknown setting(s) {sorted(unknown)}; known: {sorted(self.to_json())}"
            )
        result = dataclasses.replace(self)
        for key, attr in names.items():
            if key in changes:
                value = changes[key]
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"{key} must be an integer >= 0")
                setattr(result, attr, value)
        if "finalEvent" in changes:
            if changes["finalEvent"] not in ("separate", "merged"):
                raise ValueError('finalEvent must be "separate" or "merged"')
            result.final_event = changes["finalEvent"]
        return result


class State:
    """Everything the admin API shows or changes; shared by all handler threads."""

    def __init__(self, defaults: Settings) -> None:
        self.defaults = defaults
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.settings = dataclasses.replace(self.defaults)
            self.faults: list[Fault] = []
            self.counts: dict[str, int] = {name: 0 for name in CALL_NAMES.values()}
            self.faults_applied = 0
            self.events: list[dict[str, Any]] = []
            self.requests: list[dict[str, Any]] = []

    def begin(self, call: Call) -> tuple[int, Fault | None, Settings]:
        """Count a model request and take the first pending fault that matches it."""
        with self.lock:
            self.counts[CALL_NAMES[call]] += 1
            number = sum(self.counts.values())
            for index, fault in enumerate(self.faults):
                if fault.matches(call):
                    fault.times -= 1
                    if fault.times == 0:
                        del self.faults[index]
                    self.faults_applied += 1
                    return number, fault, self.settings
            return number, None, self.settings

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                **self.counts,
                "faultsApplied": self.faults_applied,
                "faultsPending": sum(f.times for f in self.faults),
                "questionsStreamed": len(self.events),
            }


class OfflineModelHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Benchmarks open many streams at once; the default backlog of 5 would drop SYNs.
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], settings: Settings | None = None) -> None:
        self.state = State(settings or Settings())
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def track(self, connection: socket.socket, *, add: bool) -> None:
        with self._connections_lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (reset, broken pipe) is routine here, not a server error."""
        if isinstance(sys.exc_info()[1], ConnectionError) or self.stopping.is_set():
            log.debug("connection from %s ended abruptly", client_address)
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Unblock every handler (idle keep-alive reads, stalls) so threads end promptly."""
        self.stopping.set()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class ClientGoneError(Exception):
    """The client closed the connection (or the server is stopping): stop answering."""


class Handler(BaseHTTPRequestHandler):
    server: OfflineModelHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "OfflineGemini/1.0"
    disable_nagle_algorithm = True

    # ----- plumbing -----------------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send_json(self, status: int, payload: object, *, indent: int | None = 2) -> None:
        data = json_body(payload, indent=indent)
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, error: ApiError) -> None:
        self._send_json(error.code, error.body())

    def _write(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError as exc:
            raise ClientGoneError from exc

    def _write_chunk(self, data: bytes) -> None:
        self._write(b"%x\r\n%s\r\n" % (len(data), data))

    def _wait(self, seconds: float) -> None:
        if seconds > 0 and self.server.stopping.wait(seconds):
            raise ClientGoneError

    def _stall(self, seconds: float | None) -> None:
        """Send nothing for `seconds` (None: until the client hangs up, ClientGoneError)."""
        deadline = None if seconds is None else time.monotonic() + seconds
        while True:
            if self.server.stopping.is_set():
                raise ClientGoneError
            timeout = 0.05
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                timeout = min(timeout, remaining)
            readable, _, _ = select.select([self.connection], [], [], timeout)
            if readable:
                try:
                    peeked = self.connection.recv(1, socket.MSG_PEEK)
                except OSError as exc:
                    raise ClientGoneError from exc
                if not peeked:
                    raise ClientGoneError
                time.sleep(timeout)  # the client sent more (pipelining): keep waiting

    def _abort(self, mode: Literal["close", "reset"]) -> None:
        """Drop the connection without finishing the response: FIN, or RST for "reset"."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            if mode == "reset":
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.rfile.close()
                self.connection.close()
            else:
                self.connection.shutdown(socket.SHUT_RDWR)

    # ----- routing ------------------------------------------------------------------------

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        if url.path.startswith("/_admin/") or url.path == "/healthz":
            self._admin(method, url.path)
            return
        match = MODEL_PATH.match(url.path)
        if match is None:
            self._read_body()
            self._send_error(ApiError(404, f"offline model: no route for {method} {url.path}"))
            return
        if method != "POST":
            self._send_error(ApiError(405, f"{method} is not allowed here", "METHOD_NOT_ALLOWED"))
            return
        call: Call = "stream" if match["method"] == "streamGenerateContent" else "clarify"
        self._model(call, match["model"], match["version"], parse_qs(url.query))

    # ----- admin --------------------------------------------------------------------------

    def _admin(self, method: str, path: str) -> None:
        body = self._read_body()
        state = self.server.state
        route = (method, path.removeprefix("/_admin"))
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            self._send_error(ApiError(400, "admin: the body is not JSON"))
            return
        if route in (("GET", "/health"), ("GET", "/healthz")):
            decks = {key: len(deck) for key, deck in DECKS.items()}
            self._send_json(200, {"status": "ok", "decks": decks})
        elif route == ("GET", "/faults"):
            with state.lock:
                self._send_json(200, {"pending": [f.describe() for f in state.faults]})
        elif route == ("POST", "/faults"):
            try:
                faults = parse_faults(payload)
            except FaultSpecError as exc:
                self._send_error(ApiError(400, f"admin: {exc}"))
                return
            with state.lock:
                state.faults.extend(faults)
                pending = [f.describe() for f in state.faults]
            self._send_json(200, {"pending": pending})
        elif route == ("DELETE", "/faults"):
            with state.lock:
                state.faults.clear()
            self._send_json(200, {"pending": []})
        elif route == ("GET", "/stats"):
            self._send_json(200, state.stats())
        elif route == ("GET", "/events"):
            with state.lock:
                self._send_json(200, list(state.events))
        elif route == ("GET", "/requests"):
            with state.lock:
                self._send_json(200, list(state.requests))
        elif route == ("GET", "/config"):
            self._send_json(200, state.settings.to_json())
        elif route == ("POST", "/config"):
            try:
                settings = state.settings.updated(payload)
            except ValueError as exc:
                self._send_error(ApiError(400, f"admin: {exc}"))
                return
            with state.lock:
                state.settings = settings
            self._send_json(200, settings.to_json())
        elif route == ("GET", "/decks"):
            self._send_json(200, {key: _deck_json(deck) for key, deck in DECKS.items()})
        elif route == ("POST", "/reset"):
            state.reset()
            self._send_json(200, {"status": "reset", **state.settings.to_json()})
        else:
            self._send_error(ApiError(404, f"admin: no route for {method} {path}"))

    # ----- model --------------------------------------------------------------------------

    def _model(self, call: Call, model: str, version: str, query: dict[str, list[str]]) -> None:
        body = self._read_body()
        state = self.server.state
        number, fault, settings = state.begin(call)
        record: dict[str, Any] = {
            "n": number,
            "call": call,
            "model": model,
            "apiVersion": version,
            "fault": dict(fault.spec) if fault else None,
            "receivedAt": time.time(),
        }
        try:
            self._answer(call, model, version, query, body, fault, settings, record)
        except ApiError as error:
            record["status"] = error.code
            record["error"] = error.message
            self._send_error(error)
        except ClientGoneError:
            record.setdefault("status", "client gone")
            self.close_connection = True
        finally:
            log.info(
                "%s %s deck=%s n=%s fault=%s -> %s",
                CALL_NAMES[call],
                model,
                record.get("deck"),
                record.get("count"),
                fault.kind if fault else None,
                record.get("status"),
            )
            with state.lock:
                state.requests.append(record)
                del state.requests[:-MAX_RECORDS]

    def _answer(
        self,
        call: Call,
        model: str,
        version: str,
        query: dict[str, list[str]],
        body: bytes,
        fault: Fault | None,
        settings: Settings,
        record: dict[str, Any],
    ) -> None:
        kind = fault.kind if fault else "ok"
        before_response = fault is not None and (call == "clarify" or fault.after_questions is None)
        if fault and kind in ("http_error", "api_key_invalid"):
            raise fault.api_error()
        if fault and kind == "drop" and before_response:
            record["status"] = "dropped before response"
            self._abort(fault.mode)
            return
        if fault and kind == "stall" and before_response:
            self._stall(fault.seconds)
        if call == "stream" and query.get("alt") != ["sse"]:
            raise ApiError(400, "offline model: streamGenerateContent is served with ?alt=sse only")

        request = parse_request(body, call, model, version)
        record.update(request.summary())
        if request.learner_request is None:
            raise ApiError(
                400,
                "offline model: the user content has no <learner_request>...</learner_request> "
                "block (see docs/model-protocol.md)",
            )
        deck = detect_topic(request.learner_request)
        if deck is None:
            raise unknown_topic_error(request.learner_request)
        record["deck"] = deck.key
        if call == "clarify":
            self._clarify(request, deck, fault, settings, record)
        else:
            pace_ms = self._pace(fault, settings)
            self._stream(request, deck, fault, settings, pace_ms, record)

    def _pace(self, fault: Fault | None, settings: Settings) -> int:
        if fault is not None and fault.pace_ms is not None:
            return fault.pace_ms
        header = self.headers.get(PACE_HEADER)
        if header is not None and header.strip().isdigit():
            return int(header)
        return settings.pace_ms

    def _clarify(
        self,
        request: ModelRequest,
        deck: Deck,
        fault: Fault | None,
        settings: Settings,
        record: dict[str, Any],
    ) -> None:
        estimated = len(deck)
        asked = ASKED_COUNT.search(request.learner_request or "")
        if asked and 0 < int(asked.group(1)) < estimated:
            estimated = int(asked.group(1))
        text = json.dumps({"intent": deck.intent, "topic": deck.title, "estimatedCount": estimated})
        response_id = uuid.uuid4().hex[:22]
        kind = fault.kind if fault else "ok"
        self._wait(settings.first_chunk_ms / 1000)
        if kind == "blocked_prompt":
            assert fault is not None
            body = response(
                request.model,
                response_id,
                usage(request.prompt_tokens, 0),
                prompt_feedback=blocked_prompt_feedback(fault.block_reason),
            )
        else:
            if kind == "safety":
                assert fault is not None
                answer = candidate(None, fault.finish_reason, safety_blocked=True)
                text = ""
            elif kind == "max_tokens":
                text = text[: len(text) // 2]
                answer = candidate(text, "MAX_TOKENS")
            elif kind == "bad_json":
                text = "Here is the JSON you asked for:\n" + text
                answer = candidate(text, "STOP")
            else:
                answer = candidate(text, "STOP")
            body = response(
                request.model,
                response_id,
                usage(request.prompt_tokens, estimate_tokens(text)),
                candidates=[answer],
            )
        record["status"] = 200
        self._send_json(200, body)

    def _stream(
        self,
        request: ModelRequest,
        deck: Deck,
        fault: Fault | None,
        settings: Settings,
        pace_ms: int,
        record: dict[str, Any],
    ) -> None:
        if request.count is None:
            raise ApiError(400, "offline model: no line 'Number of questions to write: N'")
        if request.count < 1:
            raise ApiError(400, "offline model: Number of questions to write must be >= 1")
        questions = select_questions(deck, request.existing, request.count)
        seed = f"{settings.seed}:{deck.key}:{request.count}:{len(request.existing)}"
        for text in request.existing:
            seed += f":{text}"
        rng = random.Random(seed)  # noqa: S311 - reproducible chunking, not security
        plan = plan_stream(
            questions,
            deck,
            request.existing,
            fault,
            rng,
            merged_final=settings.final_event == "merged",
        )
        record["items"] = len(plan.items)
        record["status"] = 200
        response_id = uuid.uuid4().hex[:22]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            self._send_plan(plan, request, fault, settings, pace_ms, response_id, record)
        except ClientGoneError:
            record["status"] = "client gone"
            raise

    def _send_plan(
        self,
        plan: StreamPlan,
        request: ModelRequest,
        fault: Fault | None,
        settings: Settings,
        pace_ms: int,
        response_id: str,
        record: dict[str, Any],
    ) -> None:
        model, prompt_tokens = request.model, request.prompt_tokens
        sent = 0  # characters of model text sent so far
        events_sent = 0

        def send(event: dict[str, Any]) -> None:
            nonlocal events_sent
            self._wait((pace_ms if events_sent else settings.first_chunk_ms) / 1000)
            self._write_chunk(sse_event(event))
            events_sent += 1

        if plan.ending == "blocked":
            assert fault is not None
            send(
                response(
                    model,
                    response_id,
                    usage(prompt_tokens, 0),
                    prompt_feedback=blocked_prompt_feedback(fault.block_reason),
                )
            )
            self._write_chunk(b"")
            return

        finished = False
        for step in plan.steps:
            if isinstance(step, Pause):
                self._stall(step.seconds)
                continue
            assert isinstance(step, TextChunk)
            sent = step.end
            finish = plan.finish_reason if step.final else None
            send(
                response(
                    model,
                    response_id,
                    usage(prompt_tokens, estimate_tokens(plan.text[:sent])),
                    candidates=[candidate(step.text, finish)],
                )
            )
            finished = finished or step.final
            if step.completes:
                now = time.time()
                with self.server.state.lock:
                    self.server.state.events.extend(
                        {
                            "question": plan.item_text(index),
                            "index": index,
                            "sentAt": now,
                            "request": record["n"],
                            "responseId": response_id,
                        }
                        for index in step.completes
                    )
                    del self.server.state.events[:-MAX_RECORDS]

        tokens = usage(prompt_tokens, estimate_tokens(plan.text[:sent]))
        if plan.ending == "drop":
            assert fault is not None
            record["status"] = "dropped mid-stream"
            self._abort(fault.mode)
            return
        if plan.ending == "error_event":
            assert fault is not None
            send(fault.api_error().body())
        elif plan.ending in ("stop", "max_tokens") and not finished:
            send(
                response(model, response_id, tokens, candidates=[candidate("", plan.finish_reason)])
            )
        elif plan.ending == "safety":
            candidates = [candidate(None, plan.finish_reason, safety_blocked=True)]
            send(response(model, response_id, tokens, candidates=candidates))
        self._write_chunk(b"")  # the zero-length chunk that ends the chunked body


def _deck_json(deck: Deck) -> dict[str, Any]:
    return {
        "title": deck.title,
        "intent": deck.intent,
        "keywords": list(deck.keywords),
        "size": len(deck),
        "questions": [q.to_json() for q in deck.questions],
    }


class OfflineModelServer:
    """The server on a background thread, for tests and benchmarks.

    with OfflineModelServer(pace_ms=0) as server:
        client = genai.Client(api_key="offline", http_options={"base_url": server.url})
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        pace_ms: int = 0,
        first_chunk_ms: int = 0,
        final_event: FinalEvent = "separate",
        seed: int = 0,
    ) -> None:
        settings = Settings(pace_ms, first_chunk_ms, final_event, seed)
        self.httpd = OfflineModelHTTPServer((host, port), settings)
        self.host = host
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.httpd.port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def state(self) -> State:
        return self.httpd.state

    def start(self) -> OfflineModelServer:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"offline-model-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.close_connections()
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.httpd.server_close()

    def __enter__(self) -> OfflineModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
