"""Routing each HTTP request: admin paths to admin.py, Gemini model paths to answer.py.

Model endpoints (any API version `v1`, `v1beta`, `v1alpha`; the API key is accepted and
ignored):

    POST /{version}/models/{model}:generateContent            clarify (docs/model-protocol.md §1)
    POST /{version}/models/{model}:streamGenerateContent?alt=sse   generate (§2, envelope §3)
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .admin import answer_admin
from .answer import answer_model
from .errors import ApiError
from .request import Call
from .transport import Transport

log = logging.getLogger("dev.model_server")

MODEL_PATH = re.compile(
    r"^/(?P<version>v1(?:alpha|beta)?\d*)/models/(?P<model>[^/:]+)"
    r":(?P<method>generateContent|streamGenerateContent)$"
)


class Handler(Transport):
    protocol_version = "HTTP/1.1"
    server_version = "OfflineGemini/1.0"
    # Item events are stamped when a chunk is written, so it must leave at once.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        self._route("GET")

    def do_POST(self) -> None:  # noqa: N802 - the name http.server dispatches to
        self._route("POST")

    def do_DELETE(self) -> None:  # noqa: N802 - the name http.server dispatches to
        self._route("DELETE")

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        if url.path.startswith("/_admin/") or url.path == "/healthz":
            answer_admin(self, method, url.path)
            return
        match = MODEL_PATH.match(url.path)
        if match is None:
            self.read_body()
            self.send_api_error(ApiError(404, f"offline model: no route for {method} {url.path}"))
            return
        if method != "POST":
            self.send_api_error(
                ApiError(405, f"{method} is not allowed here", "METHOD_NOT_ALLOWED")
            )
            return
        call: Call = "stream" if match["method"] == "streamGenerateContent" else "clarify"
        answer_model(self, call, match["model"], match["version"], parse_qs(url.query))
