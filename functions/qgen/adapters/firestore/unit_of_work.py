"""The unit of work on Firestore: one transaction per body, retried on contention.

The client's own retry re-commits at once; under a burst on one document that livelocks the
emulator (every attempt aborts every other), so each try here is a single-attempt
transaction and the retries are spread out at random.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from google.api_core import exceptions as gexc
from google.cloud import firestore
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from ...domain.errors import DomainError, ErrorCode
from ...services.ports import JobTransaction
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
            retry=retry_if_exception(_is_contention),
            wait=wait_random_exponential(multiplier=0.1, max=3.0),
            stop=stop_after_attempt(self._max_attempts),
            reraise=True,
        )

        def attempt(transaction: Any) -> T:
            return body(FirestoreTransaction(self._db, transaction))

        try:
            for try_ in retrying:
                with try_:
                    transaction = self._db.transaction(max_attempts=1)
                    result: T = firestore.transactional(attempt)(transaction)
                    return result
        except (gexc.Aborted, ValueError) as exc:
            if not _is_contention(exc):
                raise
            raise DomainError(
                ErrorCode.CONTENTION,
                "The service is busy with other requests for this account; try again.",
                retry_after_seconds=1,
            ) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")


def _is_contention(exc: BaseException) -> bool:
    # A single-attempt commit that hits ABORTED surfaces as ValueError caused by Aborted.
    return isinstance(exc, gexc.Aborted) or (
        isinstance(exc, ValueError) and isinstance(exc.__cause__, gexc.Aborted)
    )
