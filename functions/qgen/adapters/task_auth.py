"""Who may call the worker: Cloud Tasks, and nobody else.

Production runs two checks. IAM first: the function does not allow unauthenticated calls, and
only the tasks service account has the invoker role, so Google's front end rejects everyone
else. Then this module verifies the OIDC token Cloud Tasks attaches: Google's signature, the
worker URL as audience, and the tasks service account as the verified email — so a mistake in
IAM (e.g. allUsers added) does not open the worker.

Locally the Cloud Tasks emulator sends no token; "local" mode accepts a request that names the
configured queue in X-CloudTasks-QueueName, which is only meant to keep stray calls out.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import cachecontrol
import requests
from google.auth import exceptions as auth_exceptions
from google.auth.transport.requests import Request as GoogleRequest
from google.oauth2 import id_token

from ..config import Settings
from ..domain.errors import DomainError, ErrorCode

_CERT_FETCH_TIMEOUT_SECONDS = 5
# Cloud Tasks' clock and ours may differ a little; a token "issued in the future" by a second
# must not bounce a task.
_CLOCK_SKEW_SECONDS = 10
_session_lock = threading.Lock()
_request: GoogleRequest | None = None


def _google_request() -> GoogleRequest:
    # Google's public keys are cacheable for hours: one fetch per instance, not per task.
    global _request
    with _session_lock:
        if _request is None:
            _request = GoogleRequest(session=cachecontrol.CacheControl(requests.Session()))
        return _request


def verify_caller(headers: Any, settings: Settings) -> None:
    """The worker: Cloud Tasks' OIDC token for TASKS_SERVICE_ACCOUNT, audience WORKER_URL."""
    if settings.worker_caller_check == "local":
        queue = headers.get("X-CloudTasks-QueueName", "")
        if queue not in (settings.tasks_queue, settings.queue_path):
            raise DomainError(
                ErrorCode.PERMISSION_DENIED, "Only the Cloud Tasks queue may call the worker."
            )
        return
    _verify_google_oidc(
        headers,
        audience=settings.worker_url,
        service_account=settings.tasks_service_account,
        who="the Cloud Tasks service account",
    )


def verify_scheduler(headers: Any, settings: Settings) -> None:
    """cleanup_jobs: Cloud Scheduler's OIDC token for SCHEDULER_SERVICE_ACCOUNT, audience
    CLEANUP_URL. Locally (the same mode as the worker) the X-CloudScheduler header Cloud
    Scheduler sends is required instead, to keep stray calls out."""
    if settings.worker_caller_check == "local":
        if headers.get("X-CloudScheduler", "").lower() != "true":
            raise DomainError(
                ErrorCode.PERMISSION_DENIED, "Only Cloud Scheduler may call the cleanup."
            )
        return
    _verify_google_oidc(
        headers,
        audience=settings.cleanup_url,
        service_account=settings.scheduler_service_account,
        who="the Cloud Scheduler service account",
    )


def _verify_google_oidc(headers: Any, *, audience: str, service_account: str, who: str) -> None:
    scheme, _, token = (headers.get("Authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise DomainError(ErrorCode.UNAUTHENTICATED, "The call carries no OIDC token.")
    try:
        claims = id_token.verify_oauth2_token(  # type: ignore[no-untyped-call]
            token.strip(),
            functools.partial(_google_request(), timeout=_CERT_FETCH_TIMEOUT_SECONDS),
            audience=audience,
            clock_skew_in_seconds=_CLOCK_SKEW_SECONDS,
        )
    except auth_exceptions.TransportError as exc:
        raise DomainError(
            ErrorCode.AUTH_UNAVAILABLE, "Caller could not be verified now.", retry_after_seconds=5
        ) from exc
    except (ValueError, KeyError, auth_exceptions.GoogleAuthError) as exc:
        # google-auth reports a wrong issuer as GoogleAuthError and a missing one as KeyError,
        # not ValueError; all mean "not a Google token for us" (401, not a 500 and a redelivery).
        raise DomainError(ErrorCode.UNAUTHENTICATED, "Invalid OIDC token.") from exc
    verified = claims.get("email_verified") is True
    if not service_account or claims.get("email") != service_account or not verified:
        raise DomainError(ErrorCode.PERMISSION_DENIED, f"Only {who} may call this function.")
