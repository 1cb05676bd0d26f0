"""The unit of work on Firestore: one transaction per body, retried on contention.

The client's own retry re-commits at once; under a burst on one document that livelocks the
emulator (every attempt aborts every other), so each try here is a single-attempt
transaction and the retries are spread out at random. The transaction begins with the body's
first read (lazy_transaction.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from google.api_core import exceptions as gexc
from google.cloud import firestore
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from ...domain.errors import DomainError, ErrorCode
from ...services.ports import JobTransaction
from .lazy_transaction import LazyTransaction
from .names import JOBS
from .transaction import FirestoreTransaction

T = TypeVar("T")


class FirestoreUnitOfWork:
    def __init__(self, client: firestore.Client, *, transaction_max_attempts: int = 12) -> None:
        self._db = client
        self._max_attempts = transaction_max_attempts

    def new_job_id(self) -> str:
        return str(self._db.collection(JOBS).document().id)

    def run(self, body: Callable[[JobTransaction], T]) -> T:
        retrying = Retrying(
            retry=retry_if_exception_type(gexc.Aborted),
            wait=wait_random_exponential(multiplier=0.1, max=3.0),
            stop=stop_after_attempt(self._max_attempts),
            reraise=True,
        )

        try:
            for try_ in retrying:
                with try_:
                    return self._attempt(body)
        except gexc.Aborted as exc:
            raise DomainError(
                ErrorCode.CONTENTION,
                "The service is busy with other requests for this account; try again.",
                retry_after_seconds=1,
            ) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")

    def _attempt(self, body: Callable[[JobTransaction], T]) -> T:
        transaction = LazyTransaction(self._db)
        try:
            result = body(FirestoreTransaction(self._db, transaction))
            transaction.finish()
        except BaseException:
            transaction.abandon()
            raise
        return result
