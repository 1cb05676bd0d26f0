"""A loopback HTTP proxy that is itself the HTTPS origins it tunnels to, for offline tests.

Google's client libraries talk to fixed ``https://*.googleapis.com`` URLs through ``requests``,
which honours ``HTTPS_PROXY`` and ``REQUESTS_CA_BUNDLE``. :class:`TunnelProxy` answers
``CONNECT host:443`` for the hosts it was given (and refuses any other: it never dials out),
terminates TLS with a certificate for that host (issued by a test CA the client is told to
trust) and hands the decrypted connection to that host's request handler. The clients' own
code, certificate checks included, runs unchanged. Used by fake_google_certs.py (Google's
certificate endpoints) and fake_fcm.py (Cloud Messaging).
"""

from __future__ import annotations

import http.server
import socketserver
import ssl
import threading
from collections.abc import Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Any, NamedTuple


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 (the clients keep connections alive), no access log on stderr."""

    protocol_version = "HTTP/1.1"
    timeout = 5
    server: TunnelServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: HTTPStatus, body: bytes, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Origin(NamedTuple):
    """One HTTPS host the proxy impersonates: its TLS side and its request handler."""

    tls_context: ssl.SSLContext
    handler: type[QuietHandler]


def server_tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certfile=cert, keyfile=key)
    return context


class TunnelServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(
        self,
        origins: Mapping[str, Origin],
        owner: Any,
        log: list[str],
        handler: type[TunnelHandler],
    ) -> None:
        self.origins = dict(origins)  # by "host:443", as CONNECT names them
        self.owner = owner  # the fake the origin handlers serve from
        self.log = log
        super().__init__(("127.0.0.1", 0), handler)


class TunnelHandler(QuietHandler):
    """The proxy side: CONNECT to a known origin only; never dials out."""

    def do_CONNECT(self) -> None:
        self.server.log.append(f"CONNECT {self.path}")
        origin = self.server.origins.get(self.path)
        if origin is None:
            self._reply(HTTPStatus.FORBIDDEN, b"", {"Connection": "close"})
            self.close_connection = True
            return
        self.send_response(HTTPStatus.OK, "Connection Established")
        self.end_headers()
        self.close_connection = True
        try:
            tls = origin.tls_context.wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            self.server.log.append(f"TLS handshake failed: {exc}")
            return
        try:
            origin.handler(tls, self.client_address, self.server)
        finally:
            tls.close()

    def do_GET(self) -> None:
        # Plain-HTTP proxying is not offered: the origins are HTTPS only.
        self.server.log.append(f"GET {self.path} (plain proxy request refused)")
        self._reply(HTTPStatus.FORBIDDEN, b"", {"Connection": "close"})
        self.close_connection = True


class TunnelProxy:
    """The proxy on a free loopback port while the ``with`` block runs; ``url`` for
    ``HTTPS_PROXY``. Origin handlers reach ``owner`` as ``self.server.owner``."""

    def __init__(
        self,
        origins: Mapping[str, Origin],
        *,
        owner: Any,
        log: list[str],
        handler: type[TunnelHandler] = TunnelHandler,
        name: str = "tls-tunnel-proxy",
    ) -> None:
        self._server = TunnelServer(origins, owner, log, handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
