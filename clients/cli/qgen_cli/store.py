"""Firestore, read as the signed-in user, under the security rules.

The Python SDK talks to the emulator as an administrator: it sends ``authorization: Bearer
owner`` on every call, and the emulator then skips the rules. ``UserFirestore`` puts a gRPC
interceptor on the emulator channel that replaces that header with the user's ID token, so the
emulator evaluates ``firestore.rules`` for the user exactly as for a web or mobile client (a
query that does not filter on the user's own ``userId`` is refused).

Against a real project the client is given the user's Firebase ID token as OAuth credentials
(with a refresh handler), which Firestore also evaluates under the rules.
"""

from __future__ import annotations

import collections
import datetime
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

import grpc
from google.cloud import firestore
from google.oauth2.credentials import Credentials

from qgen_cli.auth import TokenSource
from qgen_cli.config import Profile

JOBS = "generationJobs"
QUESTIONS = "questions"


class _CallDetails(
    collections.namedtuple(
        "_CallDetails",
        ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"),
    ),
    grpc.ClientCallDetails,
):
    pass


class BearerInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Sends ``authorization: Bearer <token()>`` instead of whatever the caller set."""

    def __init__(self, token: Callable[[], str]) -> None:
        self._token = token

    def _details(self, details: grpc.ClientCallDetails) -> _CallDetails:
        metadata = [(k, v) for k, v in (details.metadata or ()) if k.lower() != "authorization"]
        metadata.append(("authorization", f"Bearer {self._token()}"))
        return _CallDetails(
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation: Any, details: Any, iterator: Any) -> Any:
        return continuation(self._details(details), iterator)

    def intercept_stream_stream(self, continuation: Any, details: Any, iterator: Any) -> Any:
        return continuation(self._details(details), iterator)


class _EmulatorUserClient(firestore.Client):  # type: ignore[misc]
    def __init__(self, project: str, token: Callable[[], str]) -> None:
        self._user_token = token
        super().__init__(project=project)

    def _emulator_channel(self, transport: Any) -> Any:
        channel = super()._emulator_channel(transport)
        return grpc.intercept_channel(channel, BearerInterceptor(self._user_token))


def user_client(profile: Profile, tokens: TokenSource) -> firestore.Client:
    if profile.mode == "local":
        # The SDK reads the emulator address from the environment when the client is built.
        os.environ["FIRESTORE_EMULATOR_HOST"] = profile.firestore_emulator or ""
        return _EmulatorUserClient(profile.project_id, tokens.token)
    os.environ.pop("FIRESTORE_EMULATOR_HOST", None)

    def _refresh(_request: Any, scopes: Iterable[str] | None = None) -> tuple[str, Any]:
        token, expires_at = tokens.token_with_expiry()
        # google-auth compares naive UTC datetimes.
        expiry = datetime.datetime.fromtimestamp(expires_at, datetime.UTC).replace(tzinfo=None)
        return token, expiry

    credentials = Credentials(token=None, refresh_handler=_refresh)
    return firestore.Client(project=profile.project_id, credentials=credentials)


class JobWatcher:
    """The latest snapshot of one job document, pushed by a Firestore listener."""

    def __init__(self, client: firestore.Client, job_id: str) -> None:
        self.latest: dict[str, Any] = {}
        self.changed = threading.Condition()
        self.version = 0
        ref = client.collection(JOBS).document(job_id)
        self._watch = ref.on_snapshot(self._on)

    def _on(self, snapshots: list[Any], _changes: Any, _read_time: Any) -> None:
        for snapshot in snapshots:
            if snapshot.exists:
                with self.changed:
                    self.latest = snapshot.to_dict() or {}
                    self.version += 1
                    self.changed.notify_all()

    def wait(self, seen: int, timeout: float) -> tuple[int, dict[str, Any]]:
        """Wait (at most timeout) for a snapshot newer than `seen`; return the latest."""
        with self.changed:
            self.changed.wait_for(lambda: self.version > seen, timeout)
            return self.version, dict(self.latest)

    def close(self) -> None:
        self._watch.unsubscribe()


def job_questions(
    client: firestore.Client, uid: str, job_id: str | None, limit: int
) -> list[dict[str, Any]]:
    """The user's questions (of one job), in the order they were generated."""
    query = client.collection(QUESTIONS).where(filter=firestore.FieldFilter("userId", "==", uid))
    if job_id:
        query = query.where(filter=firestore.FieldFilter("generationJobId", "==", job_id))
    # Ordering by document id ({jobId}-q{position}) needs no composite index.
    query = query.order_by("__name__").limit(limit)
    return [{"id": s.id, **(s.to_dict() or {})} for s in query.stream()]
