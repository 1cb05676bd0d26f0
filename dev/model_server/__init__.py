"""An offline, Gemini-compatible model server for local runs and tests.

It speaks the REST/SSE protocol `google-genai` uses, answers the requests of
docs/model-protocol.md from bundled decks (NATO alphabet, chemical elements, world capitals),
and injects faults on demand through an admin API. Run it with

    python -m dev.model_server --host 127.0.0.1 --port 8084 [--pace-ms 40]

or in-process with `OfflineModelServer` (see README.md in this folder).
"""

from __future__ import annotations

from .client import AdminClient
from .server import OfflineModelHTTPServer, OfflineModelServer
from .settings import Settings

__all__ = ["AdminClient", "OfflineModelHTTPServer", "OfflineModelServer", "Settings"]
