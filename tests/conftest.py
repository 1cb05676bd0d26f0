"""Shared fixtures: one Firestore emulator per test session, wiped before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dev.stack import firestore_emulator, firestore_emulator_host, wipe_firestore

PROJECT_ID = "demo-qgen-test"


@pytest.fixture(scope="session")
def emulator_address() -> Iterator[str]:
    with firestore_emulator() as address, firestore_emulator_host(address):
        yield address


@pytest.fixture(scope="session")
def firestore_client(emulator_address: str):  # type: ignore[no-untyped-def]
    from google.cloud import firestore

    return firestore.Client(project=PROJECT_ID)


@pytest.fixture
def db(emulator_address: str, firestore_client):  # type: ignore[no-untyped-def]
    """A Firestore client on an emptied emulator database."""
    wipe_firestore(emulator_address, PROJECT_ID)
    return firestore_client
