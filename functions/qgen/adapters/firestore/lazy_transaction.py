"""A read-write transaction begun by its first read: two round trips, not three.

The client library begins every transaction with its own BeginTransaction call, then reads,
then commits. Firestore also begins one inside the first read (BatchGetDocuments with
``new_transaction``; the Node and Java clients do this), which takes the same locks and saves a
round trip on every unit of work: on the worker's fenced question commit it is a third of the
path from a finished question to the learner's screen (decisions §36). A unit of work that
only writes never begins one: its commit alone is atomic.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud.firestore_v1.base_client import _parse_batch_get, _reference_info
from google.cloud.firestore_v1.base_document import DocumentSnapshot
from google.cloud.firestore_v1.transaction import Transaction


class LazyTransaction(Transaction):
    """A google.cloud.firestore Transaction (its writes, and queries once ``begin`` has run)
    whose document reads begin it. One attempt: the caller retries contention."""

    def __init__(self, client: Any) -> None:
        super().__init__(client, max_attempts=1)

    def read(self, references: Iterable[Any]) -> list[DocumentSnapshot[Any]]:
        """Snapshots of ``references`` in this transaction, beginning it if nothing has."""
        refs = list(references)
        if not refs:
            return []
        if self._write_pbs:
            raise ValueError("a transaction reads before it writes")
        paths, by_path = _reference_info(refs)
        request: dict[str, Any] = {"database": self._client._database_string, "documents": paths}
        if self._id is None:
            request["new_transaction"] = {"read_write": {}}
        else:
            request["transaction"] = self._id
        snapshots = []
        api = self._client._firestore_api
        for response in api.batch_get_documents(
            request=request, metadata=self._client._rpc_metadata
        ):
            if response.transaction:  # only on the first response of a read that began it
                self._id = response.transaction
            if response._pb.WhichOneof("result") is not None:
                snapshots.append(_parse_batch_get(response, by_path, self._client))
        return snapshots

    def begin(self) -> None:
        """Begin now (a query is about to read in this transaction)."""
        if self._id is None:
            self._begin()

    def finish(self) -> None:
        """Commit what was written; without any read, a plain atomic commit."""
        if self._id is None and not self._write_pbs:
            return
        request: dict[str, Any] = {
            "database": self._client._database_string,
            "writes": self._write_pbs,
        }
        if self._id is not None:
            request["transaction"] = self._id
        response = self._client._firestore_api.commit(
            request=request, metadata=self._client._rpc_metadata
        )
        self._clean_up()
        self.write_results = list(response.write_results)
        self.commit_time = response.commit_time

    def abandon(self) -> None:
        """Release the locks of a transaction that will not commit (best effort: the server
        drops an abandoned transaction by itself, and the caller's error is the one to see)."""
        if self._id is None:
            return
        try:
            self._rollback()
        except (gexc.GoogleAPICallError, ValueError):
            self._clean_up()
