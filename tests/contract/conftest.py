"""Every contract test runs twice: on the in-memory fakes (fast, no emulator) and on Firestore."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.backends import Backend, FirestoreBackend, MemoryBackend


@pytest.fixture(params=["memory", pytest.param("firestore", marks=pytest.mark.integration)])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "memory":
        return MemoryBackend()
    db: Any = request.getfixturevalue("db")
    return FirestoreBackend(db)
