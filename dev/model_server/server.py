"""Running the server: the threading HTTP server, and a wrapper that runs it on a thread.

Routes are in handler.py (model endpoints) and admin.py (the admin API);
dev/model_server/README.md describes both.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
import threading
from http.server import ThreadingHTTPServer
from typing import Any

from .handler import Handler
from .settings import FinalEvent, Settings
from .state import State

log = logging.getLogger("dev.model_server")


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
        question_ms: int = 0,
    ) -> None:
        settings = Settings(pace_ms, first_chunk_ms, final_event, seed, question_ms)
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
