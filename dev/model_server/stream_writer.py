"""Writing a planned stream onto the connection: paced SSE events over a chunked body.

Each item is logged for GET /_admin/events with the time right after the chunk holding its
closing brace was written, so a client's receive times can be compared with it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from .pacing import Pacing
from .response import sse_event
from .state import State
from .stream import Pause
from .stream_events import Action, Drop
from .transport import ClientGoneError, Transport


def write_stream(
    handler: Transport,
    actions: list[Action],
    pacing: Pacing,
    record: dict[str, Any],
    response_id: str,
) -> None:
    """Send `actions`, waiting before each event as `pacing` says."""
    handler.start_chunked("text/event-stream")
    try:
        for action, delay in zip(actions, pacing.delays(actions), strict=True):
            if isinstance(action, Pause):
                handler.stall(action.seconds)
                continue
            if isinstance(action, Drop):
                record["status"] = "dropped mid-stream"
                handler.abort(action.mode)
                return
            handler.wait(delay)
            handler.write_chunk(sse_event(action.payload))
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
