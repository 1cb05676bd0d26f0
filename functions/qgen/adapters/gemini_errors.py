"""Gemini's failures in the domain's words: SDK errors and finish reasons -> ModelError codes.

Classified by exception *type* and HTTP code, never by matching message text.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from google.genai import errors

from ..domain.failures import FailureCode, ModelError


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Connection and timeout errors of whichever HTTP stack the SDK runs on.

    google-genai uses httpx or its fork httpx2 (separate classes), and raises their transport
    errors as they are, not as APIError.
    """
    found: list[type[BaseException]] = [TimeoutError, ConnectionError]
    for name in ("httpx", "httpx2"):
        try:
            found.append(importlib.import_module(name).TransportError)
        except (ImportError, AttributeError):
            continue
    return tuple(found)


TRANSPORT_ERRORS = _transport_errors()

_BLOCKING_FINISH = {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "IMAGE_SAFETY"}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)s")
_KEY_REASONS = {"API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_SERVICE_BLOCKED"}


def classify_api_error(error: errors.APIError) -> ModelError:
    """HTTP errors of the Gemini API, by class and code."""
    if isinstance(error, errors.ServerError):
        return ModelError(FailureCode.SERVER_ERROR, f"HTTP {error.code}")
    if error.code == 429:
        return ModelError(
            FailureCode.RATE_LIMIT, "HTTP 429", retry_after_seconds=_retry_delay(error)
        )
    if error.code in (401, 403) or _names_key_problem(error):
        return ModelError(FailureCode.API_KEY, f"HTTP {error.code}")
    return ModelError(FailureCode.UNKNOWN, str(error.message or ""))


def _details(error: errors.APIError) -> list[dict[str, Any]]:
    details = (error.details or {}).get("error", {}).get("details", [])
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def _names_key_problem(error: errors.APIError) -> bool:
    return any(d.get("reason") in _KEY_REASONS for d in _details(error))


def _retry_delay(error: errors.APIError) -> float | None:
    """The delay a 429's google.rpc.RetryInfo asks for ("2s", "1.5s"), in seconds."""
    for detail in _details(error):
        if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _DURATION.fullmatch(str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def ending_failure(finish_reason: str | None, *, what: str) -> ModelError | None:
    """None when a response ended properly (STOP); otherwise the failure its ending means."""
    if finish_reason == "STOP":
        return None
    if finish_reason in _BLOCKING_FINISH:
        return ModelError(FailureCode.CONTENT_BLOCKED, finish_reason or "")
    return ModelError(FailureCode.TRUNCATED, f"{what} finished with {finish_reason}")
