"""Dev tools that stay in the foreground (`dev.stack up`, `make web`) until asked to stop."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable


class StopRequest:
    """Set by Ctrl-C or SIGTERM, so that the caller's cleanup runs after either.

    SIGTERM's default action ends the process on the spot: its `finally` blocks never run, and
    the emulators and servers it started, each in a process group of its own, would be left
    behind.
    """

    def __init__(self) -> None:
        self.requested = False
        signal.signal(signal.SIGTERM, self._request)

    def _request(self, *_: object) -> None:
        self.requested = True

    def wait(self, done: Callable[[], bool], interval: float) -> bool:
        """Block until `done()` is true (asked every `interval` s) or a stop is requested.

        Returns whether a stop was requested.
        """
        try:
            while not self.requested and not done():
                time.sleep(interval)
        except KeyboardInterrupt:
            self.requested = True
        return self.requested
