"""Stable error codes shared by the API, the job documents and the clients.

A code is part of the public contract: clients switch on it, so a code is never renamed.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    # Request problems (4xx)
    UNAUTHENTICATED = "UNAUTHENTICATED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    PROMPT_TOO_SHORT = "PROMPT_TOO_SHORT"
    PROMPT_TOO_LONG = "PROMPT_TOO_LONG"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    NOT_CANCELLABLE = "NOT_CANCELLABLE"
    NOT_RETRYABLE = "NOT_RETRYABLE"
    CONCURRENCY_LIMIT = "CONCURRENCY_LIMIT"
    RATE_LIMITED = "RATE_LIMITED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    ORIGIN_NOT_ALLOWED = "ORIGIN_NOT_ALLOWED"
    BUDGET_EXCEEDED = "BUDGET_EXCEEDED"
    # Server-side conditions (5xx), all safe to retry
    QUEUE_UNAVAILABLE = "QUEUE_UNAVAILABLE"
    AUTH_UNAVAILABLE = "AUTH_UNAVAILABLE"
    CONTENTION = "CONTENTION"
    SERVICE_BUDGET_EXHAUSTED = "SERVICE_BUDGET_EXHAUSTED"
    NOT_IMPLEMENTED = "NOT_IMPLEMENTED"
    INTERNAL = "INTERNAL"


class DomainError(Exception):
    """A failure the API reports to the caller with a stable code.

    ``details`` carries machine-readable context (limits, retry hints) and must never hold
    secrets, tokens or stack traces: it is sent to the client as is.
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        details: dict[str, object] | None = None,
        retry_after_seconds: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}
        self.retry_after_seconds = retry_after_seconds


def job_not_found() -> DomainError:
    # Someone else's job gets the same answer as a missing one: ids are not an oracle.
    return DomainError(ErrorCode.NOT_FOUND, "No such job.")
