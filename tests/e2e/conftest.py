"""The whole local stack, started once per test session on free ports."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from dev.stack import STATE_DIR, Stack, StackConfig, free_port
from dev.tokens import emulator_id_token
from tests.conftest import PROJECT_ID


@pytest.fixture(scope="session")
def stack(emulator_address: str) -> Iterator[Stack]:
    config = StackConfig(
        project_id=PROJECT_ID,
        firestore_host=emulator_address,
        tasks_port=free_port(),
        api_port=free_port(),
        worker_port=free_port(),
        cleanup_port=free_port(),
        log_dir=STATE_DIR / "logs" / "e2e",
    )
    with Stack(config) as running:
        yield running


def bearer(uid: str, project_id: str = PROJECT_ID) -> dict[str, str]:
    return {"Authorization": f"Bearer {emulator_id_token(uid, project_id=project_id)}"}


@pytest.fixture
def api(stack: Stack, db: Any) -> Iterator[httpx.Client]:
    """An HTTP client for the stack's api function, on an emptied database."""
    with httpx.Client(base_url=stack.config.api_url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def spawn_api(stack: Stack) -> Iterator[Callable[..., str]]:
    """Start an extra api function with some settings overridden; returns its base URL."""
    extras: list[Stack] = []

    def spawn(**env: str) -> str:
        config = dataclasses.replace(
            stack.config,
            function_env={k.upper(): v for k, v in env.items()},
            api_port=free_port(),
        )
        extra = Stack(config)
        extras.append(extra)
        extra.start_function(f"api-{config.api_port}", "api", config.api_port)
        return config.api_url

    yield spawn
    for extra in extras:
        extra.stop()
