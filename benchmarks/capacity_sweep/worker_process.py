"""The one worker process under test: functions-framework serving process_job, as the local
stack starts it, on a free port of the benchmark's private stack; and its CPU time."""

from __future__ import annotations

import math
import os
from pathlib import Path
from urllib.parse import urlsplit

from qgen.config import Settings

from benchmarks.environment import process_cpu_seconds
from benchmarks.worker_streaming.private_stack import BenchStack
from dev.stack import Managed, StackError, free_port


def production_like_env(threads: int, questions: int) -> dict[str, str]:
    """Changes to the local stack's function environment for this measurement.

    THREADS: functions-framework serves with gunicorn threads (4 x CPU unless set); a K above
    it would queue inside gunicorn and be measured as a slow job, so the sweep sets it to its
    largest K (production sets it to the worker's request concurrency, 10). The local stack
    reads the project's spend at every admission; production at most every
    spend_reading_max_age_seconds, which is the worker's per-job cost we mean to measure."""
    spend_age = Settings.model_fields["spend_reading_max_age_seconds"].default
    return {
        "THREADS": str(threads),
        "SPEND_READING_MAX_AGE_SECONDS": f"{spend_age:g}",
        "MAX_QUESTIONS_PER_JOB": str(questions),
    }


def start_worker(bench: BenchStack, threads: int, questions: int) -> tuple[Managed, str]:
    """process_job on a free port, against the stack's emulator and model; (process, URL)."""
    config = bench.stack.config
    config.firestore_host = bench.firestore
    config.model_port = int(urlsplit(bench.model_url).port or 0)
    config.function_env = production_like_env(threads, questions)
    for attempt in range(3):  # another process may take the free port first
        config.worker_port = free_port()
        try:
            bench.stack.start_function("worker", "process_job", config.worker_port)
        except StackError:
            if attempt == 2:
                raise
            continue
        worker = next(m for m in bench.stack.processes if m.name == "worker")
        return worker, config.worker_url
    raise AssertionError("unreachable")


def worker_pids(pgid: int) -> list[int]:
    """The live processes of the worker's group: the functions-framework arbiter and the
    gunicorn worker it forks (which serves the requests); arbiter first."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:  # field 5 of the line: the process group
                pids.append(int(entry.name))
    return sorted(pids, key=lambda pid: (pid != pgid, pid))


def group_cpu_seconds(pgid: int) -> float:
    """CPU seconds of the worker's group so far; NaN if none of it is readable."""
    seconds = [s for pid in worker_pids(pgid) if not math.isnan(s := process_cpu_seconds(pid))]
    return sum(seconds) if seconds else math.nan


def machine_cores() -> int:
    return os.cpu_count() or 1
