"""Shared fixtures: one Firestore emulator per test session, wiped before each test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from dev.stack import firestore_emulator, wipe_firestore

PROJECT_ID = "demo-qgen-test"


@pytest.fixture(scope="session")
def emulator_address() -> Iterator[str]:
    with firestore_emulator() as address:
        previous = os.environ.get("FIRESTORE_EMULATOR_HOST")
        os.environ["FIRESTORE_EMULATOR_HOST"] = address
        try:
            yield address
        finally:
            if previous is None:
                os.environ.pop("FIRESTORE_EMULATOR_HOST", None)
            else:
                os.environ["FIRESTORE_EMULATOR_HOST"] = previous


@pytest.fixture(scope="session")
def firestore_client(emulator_address: str):  # type: ignore[no-untyped-def]
    from google.cloud import firestore

    return firestore.Client(project=PROJECT_ID)


@pytest.fixture
def db(emulator_address: str, firestore_client):  # type: ignore[no-untyped-def]
    """A Firestore client on an emptied emulator database."""
    wipe_firestore(emulator_address, PROJECT_ID)
    return firestore_client
