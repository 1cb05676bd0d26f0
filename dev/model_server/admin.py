"""The admin API (`/_admin/...`, JSON): faults, counts, records, config, decks and reset.

    GET    /_admin/health               {"status": "ok", "decks": {...}}
    GET    /_admin/faults               {"pending": [...]}
    POST   /_admin/faults               append faults (a list, {"faults": [...]} or one object)
    DELETE /_admin/faults               drop every pending fault
    GET    /_admin/stats                call counts
    GET    /_admin/events               per streamed item: {"question", "index", "sentAt", ...}
    GET    /_admin/requests             what each model request asked for
    GET    /_admin/config               {"paceMs", "firstChunkMs", "questionMs", "finalEvent", ...}
    POST   /_admin/config               change any of those (until reset)
    GET    /_admin/decks                the bundled decks, questions included
    POST   /_admin/reset                faults, counts, events, requests and config back to start

dev/model_server/README.md has every shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .decks import DECKS, Deck
from .errors import ApiError
from .fault_parsing import parse_faults
from .state import State
from .transport import Transport

# A route answers 200 with what it returns; a ValueError (rejected input) answers 400.
Route = Callable[[State, Any], object]


def answer_admin(handler: Transport, method: str, path: str) -> None:
    body = handler.read_body()
    try:
        payload = json.loads(body) if body else None
    except ValueError:
        handler.send_api_error(ApiError(400, "admin: the body is not JSON"))
        return
    route = ROUTES.get((method, path.removeprefix("/_admin")))
    if route is None:
        handler.send_api_error(ApiError(404, f"admin: no route for {method} {path}"))
        return
    try:
        answer = route(handler.server.state, payload)
    except ValueError as exc:
        handler.send_api_error(ApiError(400, f"admin: {exc}"))
        return
    handler.send_json(200, answer)


def _health(state: State, payload: Any) -> object:
    return {"status": "ok", "decks": {key: len(deck) for key, deck in DECKS.items()}}


def _add_faults(state: State, payload: Any) -> object:
    return {"pending": state.add_faults(parse_faults(payload))}


def _clear_faults(state: State, payload: Any) -> object:
    state.clear_faults()
    return {"pending": []}


def _change_config(state: State, payload: Any) -> object:
    settings = state.settings.updated(payload)
    state.use_settings(settings)
    return settings.to_json()


def _reset(state: State, payload: Any) -> object:
    state.reset()
    return {"status": "reset", **state.settings.to_json()}


def _deck_json(deck: Deck) -> dict[str, Any]:
    return {
        "title": deck.title,
        "intent": deck.intent,
        "keywords": list(deck.keywords),
        "size": len(deck),
        "questions": [q.to_json() for q in deck.questions],
    }


ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/health"): _health,
    ("GET", "/healthz"): _health,
    ("GET", "/faults"): lambda state, _: {"pending": state.pending_faults()},
    ("POST", "/faults"): _add_faults,
    ("DELETE", "/faults"): _clear_faults,
    ("GET", "/stats"): lambda state, _: state.stats(),
    ("GET", "/events"): lambda state, _: state.recorded_events(),
    ("GET", "/requests"): lambda state, _: state.recorded_requests(),
    ("GET", "/config"): lambda state, _: state.settings.to_json(),
    ("POST", "/config"): _change_config,
    ("GET", "/decks"): lambda state, _: {key: _deck_json(deck) for key, deck in DECKS.items()},
    ("POST", "/reset"): _reset,
}
