"""Writing a planned stream onto the connection: paced SSE events over a chunked body.

Each item is logged for GET /_admin/events with the time right after the chunk holding its
closing brace was written, so a client's receive times can be compared with it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from .response import sse_event
from .state import State
from .stream import Pause
from .stream_events import Action, Drop
from .transport import ClientGoneError, Transport


def write_stream(
    handler: Transport,
    actions: list[Action],
    delays: tuple[float, float],
    record: dict[str, Any],
    response_id: str,
) -> None:
    """Send `actions`; `delays` are the seconds before the first event and between events."""
    handler.start_chunked("text/event-stream")
    first_delay, pace = delays
    events_sent = 0
    try:
        for action in actions:
            if isinstance(action, Pause):
                handler.stall(action.seconds)
                continue
            if isinstance(action, Drop):
                record["status"] = "dropped mid-stream"
                handler.abort(action.mode)
                return
            handler.wait(pace if events_sent else first_delay)
            handler.write_chunk(sse_event(action.payload))
            events_sent += 1
            if action.completes:
                _log_items(handler.server.state, action.completes, record["n"], response_id)
        handler.write_chunk(b"")
    except ClientGoneError:
        record["status"] = "client gone"
        raise


def _log_items(
    state: State, items: Iterable[tuple[int, str]], request: int, response_id: str
) -> None:
    now = time.time()
    state.add_events(
        {
            "question": question,
            "index": index,
            "sentAt": now,
            "request": request,
            "responseId": response_id,
        }
        for index, question in items
    )
