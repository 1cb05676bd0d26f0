"""Fixtures of the service unit tests: the in-memory ports."""

from __future__ import annotations

import pytest

from tests.support.fakes import FakeClock, InMemoryTaskQueue, MemoryStore


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def queue() -> InMemoryTaskQueue:
    return InMemoryTaskQueue()
