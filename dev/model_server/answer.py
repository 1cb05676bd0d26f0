"""Answering one model request: count it, apply its fault, read it, pick the deck, reply.

Each request leaves a record for GET /_admin/requests saying what it asked for and how it
ended (an HTTP status, "client gone" or "dropped ...").
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import Any

from .array_text import Envelope
from .clarify import clarify_body
from .decks import Deck, detect_topic
from .errors import ApiError, unknown_topic_error
from .faults import Fault
from .pacing import Pacing
from .planning import planned_count
from .request import Call, ModelRequest, parse_request
from .response import new_response_id
from .settings import Settings
from .state import CALL_NAMES
from .stream import plan_stream, select_questions
from .stream_events import stream_actions
from .stream_writer import write_stream
from .transport import ClientGoneError, Transport

log = logging.getLogger("dev.model_server")

# Headers a caller can set (HttpOptions(headers=...)) to pace one request.
PACE_HEADER = "x-offline-pace-ms"
QUESTION_HEADER = "x-offline-question-ms"


@dataclass
class Exchange:
    """One model request while it is answered."""

    handler: Transport
    call: Call
    fault: Fault | None
    settings: Settings
    record: dict[str, Any]


def answer_model(
    handler: Transport, call: Call, model: str, version: str, query: dict[str, list[str]]
) -> None:
    body = handler.read_body()
    state = handler.server.state
    number, fault, settings = state.begin(call, model.removeprefix("models/"))
    record: dict[str, Any] = {
        "n": number,
        "call": call,
        "model": model,
        "apiVersion": version,
        "fault": dict(fault.spec) if fault else None,
        "receivedAt": time.time(),
    }
    exchange = Exchange(handler, call, fault, settings, record)
    try:
        if _fault_before_response(exchange):
            return
        if call == "stream" and query.get("alt") != ["sse"]:
            raise ApiError(400, "offline model: streamGenerateContent is served with ?alt=sse only")
        _answer(exchange, parse_request(body, call, model, version))
    except ApiError as error:
        record["status"] = error.code
        record["error"] = error.message
        handler.send_api_error(error)
    except ClientGoneError:
        record.setdefault("status", "client gone")
        handler.close_connection = True
    finally:
        _log(exchange)
        state.add_request(record)


def _fault_before_response(exchange: Exchange) -> bool:
    """Apply the part of a fault that comes before any answer; True if nothing follows."""
    fault = exchange.fault
    if fault is None:
        return False
    if fault.kind in ("http_error", "api_key_invalid"):
        raise fault.api_error()
    if exchange.call == "stream" and fault.after_questions is not None:
        return False
    if fault.kind == "drop":
        exchange.record["status"] = "dropped before response"
        exchange.handler.abort(fault.mode)
        return True
    if fault.kind == "stall":
        exchange.handler.stall(fault.seconds)
    return False


def _answer(exchange: Exchange, request: ModelRequest) -> None:
    exchange.record.update(request.summary())
    if request.learner_request is None:
        raise ApiError(
            400,
            "offline model: the user content has no <learner_request>...</learner_request> "
            "block (see docs/model-protocol.md)",
        )
    deck = detect_topic(request.learner_request)
    if deck is None:
        raise unknown_topic_error(request.learner_request)
    exchange.record["deck"] = deck.key
    if exchange.call == "clarify":
        _clarify(exchange, request, deck)
    else:
        _stream(exchange, request, deck)


def _clarify(exchange: Exchange, request: ModelRequest, deck: Deck) -> None:
    body = clarify_body(request, deck, exchange.fault, new_response_id())
    exchange.handler.wait(exchange.settings.first_chunk_ms / 1000)
    exchange.record["status"] = 200
    exchange.handler.send_json(200, body)


def _stream(exchange: Exchange, request: ModelRequest, deck: Deck) -> None:
    planned = planned_count(request, deck)
    extra = exchange.fault.extra_questions() if exchange.fault else 0
    questions = select_questions(deck, request.existing, planned + extra)
    exchange.record["plannedCount"] = planned
    envelope = Envelope(deck.title, planned) if request.envelope else None
    settings = exchange.settings
    # Seeded by the request, so that the same request gets the same chunks.
    asked = request.count if request.count is not None else f"max{request.max_count}"
    seed = f"{settings.seed}:{deck.key}:{asked}:{len(request.existing)}"
    rng = random.Random(":".join([seed, *request.existing]))  # noqa: S311 - not security
    merged = settings.final_event == "merged"
    plan = plan_stream(
        questions,
        deck,
        request.existing,
        exchange.fault,
        rng,
        merged_final=merged,
        envelope=envelope,
    )
    exchange.record["items"] = len(plan.items)
    exchange.record["status"] = 200
    response_id = new_response_id()
    actions = stream_actions(
        plan, request.model, request.prompt_tokens, exchange.fault, response_id
    )
    write_stream(exchange.handler, actions, _pacing(exchange), exchange.record, response_id)


def _pacing(exchange: Exchange) -> Pacing:
    """A fault's paceMs, else the request's header, else the server's setting."""
    settings = exchange.settings
    pace_ms = _header_ms(exchange, PACE_HEADER, settings.pace_ms)
    if exchange.fault is not None and exchange.fault.pace_ms is not None:
        pace_ms = exchange.fault.pace_ms
    question_ms = _header_ms(exchange, QUESTION_HEADER, settings.question_ms)
    return Pacing(settings.first_chunk_ms / 1000, pace_ms / 1000, question_ms / 1000)


def _header_ms(exchange: Exchange, name: str, default: int) -> int:
    header = exchange.handler.headers.get(name)
    if header is not None and header.strip().isdigit():
        return int(header)
    return default


def _log(exchange: Exchange) -> None:
    record, fault = exchange.record, exchange.fault
    log.info(
        "%s %s deck=%s n=%s fault=%s -> %s",
        CALL_NAMES[exchange.call],
        record["model"],
        record.get("deck"),
        record.get("plannedCount", record.get("count")),
        fault.kind if fault else None,
        record.get("status"),
    )
