"""python -m dev.model_server --host 127.0.0.1 --port 8084 [--pace-ms 40]"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from .decks import DECKS
from .server import OfflineModelHTTPServer
from .settings import Settings


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m dev.model_server",
        description="Offline Gemini-compatible model server (docs/model-protocol.md).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8084, help="0 picks a free port")
    parser.add_argument(
        "--pace-ms", type=int, default=40, help="delay between streamed chunks (0: no delay)"
    )
    parser.add_argument(
        "--first-chunk-ms",
        type=int,
        default=0,
        help="time to first token: delay before the first event (stream) or the answer, per call",
    )
    parser.add_argument(
        "--question-ms",
        type=int,
        default=0,
        help="time per streamed question item, replacing --pace-ms within items (0: off)",
    )
    parser.add_argument(
        "--final-event",
        choices=("separate", "merged"),
        default="separate",
        help="finishReason on its own last event (default) or on the last text chunk",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the chunk boundaries")
    parser.add_argument("--quiet", action="store_true", help="log no line per request")
    args = parser.parse_args(argv)
    if min(args.pace_ms, args.first_chunk_ms, args.question_ms) < 0:
        parser.error("delays must be >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = Settings(
        args.pace_ms, args.first_chunk_ms, args.final_event, args.seed, args.question_ms
    )
    httpd = OfflineModelHTTPServer((args.host, args.port), settings)

    def _stop(*_: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _stop)
    decks = ", ".join(f"{key} ({len(deck)})" for key, deck in DECKS.items())
    # The first stdout line is the contract with whoever started us: it carries the port.
    print(
        f"offline model server on http://{args.host}:{httpd.port} "
        f"(pace {args.pace_ms} ms; decks: {decks})",
        flush=True,
    )
    try:
        httpd.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        httpd.close_connections()
        httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
