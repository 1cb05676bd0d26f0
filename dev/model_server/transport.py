"""One connection's input and output: bodies, JSON answers, chunks, waits, stalls and drops.

Every write that can meet a vanished client turns the OSError into ClientGoneError, so the
model code can stop answering without treating it as a server error.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING

from .errors import ApiError
from .faults import DropMode
from .response import json_body

if TYPE_CHECKING:
    from .server import OfflineModelHTTPServer

# How often a stall looks at the socket and at the server stopping.
STALL_POLL_SECONDS = 0.05


class ClientGoneError(Exception):
    """The client closed the connection (or the server is stopping): stop answering."""


class Transport(BaseHTTPRequestHandler):
    server: OfflineModelHTTPServer

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

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_json(self, status: int, payload: object, *, indent: int | None = 2) -> None:
        data = json_body(payload, indent=indent)
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_api_error(self, error: ApiError) -> None:
        self.send_json(error.code, error.body())

    def start_chunked(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def write_chunk(self, data: bytes) -> None:
        """One chunk of a chunked body; b"" is the empty chunk that ends it."""
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        except OSError as exc:
            raise ClientGoneError from exc

    def wait(self, seconds: float) -> None:
        if seconds > 0 and self.server.stopping.wait(seconds):
            raise ClientGoneError

    def stall(self, seconds: float | None) -> None:
        """Send nothing for `seconds` (None: until the client hangs up, ClientGoneError)."""
        deadline = None if seconds is None else time.monotonic() + seconds
        while True:
            if self.server.stopping.is_set():
                raise ClientGoneError
            timeout = STALL_POLL_SECONDS
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                timeout = min(timeout, remaining)
            readable, _, _ = select.select([self.connection], [], [], timeout)
            if readable:
                self._check_client_alive()
                time.sleep(timeout)  # the client sent more (pipelining): keep waiting

    def abort(self, mode: DropMode) -> None:
        """Drop the connection without finishing the response: FIN, or RST for "reset"."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            if mode == "reset":
                # A zero linger time makes close() send RST instead of FIN.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.rfile.close()
                self.connection.close()
            else:
                self.connection.shutdown(socket.SHUT_RDWR)

    def _check_client_alive(self) -> None:
        """A readable socket with nothing to read means the client closed it."""
        try:
            peeked = self.connection.recv(1, socket.MSG_PEEK)
        except OSError as exc:
            raise ClientGoneError from exc
        if not peeked:
            raise ClientGoneError
