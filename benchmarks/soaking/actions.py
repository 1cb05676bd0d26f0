"""Things the soak does later, at their time, on a small thread pool; and the run's tallies."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor


class Tally:
    """Thread-safe counts of what the soak did and what it was answered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def add(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.counts[key] += n

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)


class Actions:
    """A heap of (due time, action); one thread hands due actions to a pool."""

    def __init__(self, threads: int) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._lock = threading.Condition()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="soak-action")
        self._closed = False
        self.errors: list[str] = []
        threading.Thread(target=self._loop, daemon=True, name="soak-actions").start()

    def at(self, due: float, action: Callable[[], None]) -> None:
        """Run ``action`` at ``due`` (time.monotonic())."""
        with self._lock:
            heapq.heappush(self._heap, (due, next(self._seq), action))
            self._lock.notify()

    def now(self, action: Callable[[], None]) -> None:
        self.at(time.monotonic(), action)

    def close(self, wait: bool = True) -> None:
        """Drop what is not due yet; wait for the running actions."""
        with self._lock:
            self._closed = True
            self._heap.clear()
            self._lock.notify()
        self._pool.shutdown(wait=wait, cancel_futures=True)

    def _loop(self) -> None:
        while True:
            with self._lock:
                while not self._closed and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._lock.wait(timeout)
                if self._closed:
                    return
                _, _, action = heapq.heappop(self._heap)
            try:
                self._pool.submit(self._guarded, action)
            except RuntimeError:  # closed meanwhile
                return

    def _guarded(self, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception as exc:  # an action's failure is a figure, not the end of the run
            self.errors.append(f"{type(exc).__name__}: {exc}")
