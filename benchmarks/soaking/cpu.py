"""CPU time of a worker 'instance': every process of its process group, over its restarts."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    with contextlib.suppress(OSError, IndexError):
        # The command (field 2) may hold spaces; the fields after it start at the state.
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return None


class GroupCpu:
    """user + system seconds of the processes in the groups it follows (functions-framework
    runs gunicorn, whose worker is a child in the same group). A process's last reading is
    kept after it dies, so a killed incarnation still counts what it used before the kill."""

    def __init__(self) -> None:
        self._groups: list[int] = []
        self._seconds: dict[int, float] = {}
        self._lock = threading.Lock()

    def follow(self, group: int) -> None:
        with self._lock:
            self._groups.append(group)
        self.sample()

    def sample(self) -> None:
        readings: dict[int, float] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            fields = _stat_fields(int(entry.name))
            # After the command: state, ppid, pgrp (index 2); utime, stime at 11, 12.
            if fields is not None and int(fields[2]) in self._groups:
                readings[int(entry.name)] = (int(fields[11]) + int(fields[12])) / TICKS
        with self._lock:
            self._seconds.update(readings)

    @property
    def seconds(self) -> float:
        with self._lock:
            return sum(self._seconds.values())
