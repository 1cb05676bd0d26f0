"""Ctrl-C and SIGTERM in the benchmarks: both end a run through its cleanup."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

from rich.console import Console


def raise_interrupt(signum: int, frame: object) -> None:
    """A SIGTERM handler: unwinds like Ctrl-C, so `finally` blocks stop what the run started."""
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def signals_deferred(console: Console) -> Iterator[None]:
    """Hold SIGINT/SIGTERM until the block is done, then raise KeyboardInterrupt."""
    pending: list[int] = []

    def hold(signum: int, frame: object) -> None:
        if not pending:
            console.print("Interrupt received; stopping once the stack is in a safe state …")
        pending.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if pending:
        raise KeyboardInterrupt(f"signal {pending[0]}")
