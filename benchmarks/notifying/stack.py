"""A private local stack whose functions notify through the FCM stand-in (tests/support)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console

from benchmarks.interrupts import signals_deferred
from benchmarks.job_creation.private_stack import distinct_free_ports
from dev.stack import STATE_DIR, Stack, StackConfig, StackError
from tests.support.fake_fcm import FakeFcm

PROJECT = "demo-qgen-bench-notify"
LOG_DIR = STATE_DIR / "logs" / "bench-notifications"
PIECES = ("firestore", "tasks", "api", "worker", "cleanup", "model")
# Limits raised so one learner can run the whole benchmark (the defaults allow ~10 jobs a day).
_LIMITS = {
    "MAX_CONCURRENT_PER_USER": "50",
    "USER_RATE_LIMIT": "1000",
    "IP_RATE_LIMIT": "1000",
    "DAILY_TOKEN_BUDGET": "100000000",
}


def notifying_config(fcm: FakeFcm, workdir: Path, *, model_pace_ms: int) -> StackConfig:
    """The stack on free ports; every function notifies through ``fcm``."""
    ports = dict(zip(PIECES, distinct_free_ports(len(PIECES)), strict=True))
    credentials = fcm.write_service_account(workdir / "service-account.json")
    return StackConfig(
        project_id=PROJECT,
        firestore_port=ports["firestore"],
        tasks_port=ports["tasks"],
        api_port=ports["api"],
        worker_port=ports["worker"],
        cleanup_port=ports["cleanup"],
        model_port=ports["model"],
        model_pace_ms=model_pace_ms,
        gemini_api_key="",  # the offline model server
        log_dir=LOG_DIR,
        function_env={**_LIMITS, **fcm.function_env(credentials)},
    )


@contextlib.contextmanager
def notifying_stack(
    fcm: FakeFcm, workdir: Path, console: Console, *, model_pace_ms: int
) -> Iterator[StackConfig]:
    """The stack up until the block ends; its ports are tried again if another stack on the
    machine takes one first."""
    for attempt in range(3):
        config = notifying_config(fcm, workdir, model_pace_ms=model_pace_ms)
        stack = Stack(config)
        try:
            with signals_deferred(console):  # no orphaned child if Ctrl-C lands in a Popen
                stack.start()
        except StackError:
            with signals_deferred(console):
                stack.stop()
            if attempt == 2:
                raise
            continue
        try:
            yield config
        finally:
            with signals_deferred(console):
                stack.stop()
        return
