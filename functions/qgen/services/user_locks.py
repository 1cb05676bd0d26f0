"""Per-user serialisation of admissions inside one instance.

Correctness never depends on this: the Firestore transaction enforces every limit across all
instances. It only stops one instance's threads from contending with each other for the same
user's counter documents, which costs aborted transactions and seconds of backoff under a burst
(a double-clicked submit, a client retry loop).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class StripedLocks:
    def __init__(self, stripes: int = 256) -> None:
        self._locks = [threading.Lock() for _ in range(stripes)]

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        digest = hashlib.blake2b(key.encode(), digest_size=4).digest()
        with self._locks[int.from_bytes(digest, "big") % len(self._locks)]:
            yield
