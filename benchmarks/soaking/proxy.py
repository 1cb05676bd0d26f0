"""The worker address the queue calls: a round-robin forwarding proxy in front of the workers.

Cloud Tasks calls one URL and Cloud Functions spreads the calls over instances; locally the
queue has one target too, so WORKER_URL points here and each delivery goes to the next worker
process in turn. A worker that refuses the connection (killed, restarting) is skipped, as a
load balancer skips an instance that is gone. A worker that dies while answering leaves the
delivery without an answer: the proxy answers 502, so the queue retries it after its backoff,
as Cloud Tasks does when an instance crashes mid-request. With no worker up it answers 503.

Chosen over one gunicorn with several processes because a SIGKILLed gunicorn worker is
restarted by its master at once and shares its master's fate; separate functions-framework
processes behave like separate instances, each killed and restarted on its own.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Longer than any one job's delivery (the queue's own deadline is 300 s).
UPSTREAM_TIMEOUT_SECONDS = 280
HOP_HEADERS = frozenset({"host", "connection", "content-length", "transfer-encoding"})


class WorkerProxy:
    """Forwards POSTs to worker ports in turn; counts what the workers answered."""

    def __init__(self, ports: Callable[[], list[int]]) -> None:
        self._ports = ports
        self._turn = itertools.count()
        self.lock = threading.Lock()
        self.outcomes: Counter[str] = Counter()  # the worker's "outcome", or the proxy's status
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])

    def start(self) -> None:
        threading.Thread(target=self.server.serve_forever, daemon=True, name="proxy").start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def forward(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        ports = self._ports()
        start = next(self._turn)
        for offset in range(len(ports)):
            port = ports[(start + offset) % len(ports)]
            try:
                status, answer = _post(port, body, headers)
            except ConnectionRefusedError:
                continue
            except (OSError, http.client.HTTPException):
                self._count("502 worker died mid-delivery")
                return 502, b'{"error": "the worker went away"}'
            self._count(_outcome(status, answer))
            return status, answer
        self._count("503 no worker up")
        return 503, b'{"error": "no worker is up"}'

    def _count(self, outcome: str) -> None:
        with self.lock:
            self.outcomes[outcome] += 1

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                status, answer = proxy.forward(body, headers)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        return Handler


def _post(port: int, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    with _connection(port) as connection:
        connection.request("POST", "/", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()


@contextlib.contextmanager
def _connection(port: int) -> Iterator[http.client.HTTPConnection]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=UPSTREAM_TIMEOUT_SECONDS)
    try:
        yield connection
    finally:
        connection.close()


def _outcome(status: int, answer: bytes) -> str:
    """What a worker answered, for the figures: its outcome field, else its status."""
    with contextlib.suppress(ValueError, AttributeError):
        outcome = json.loads(answer).get("outcome")
        if outcome:
            return f"{status} {outcome}"
    return str(status)
