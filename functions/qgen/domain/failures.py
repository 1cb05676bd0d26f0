"""Why a generation attempt failed, whether trying again can help, and what to tell the learner.

Adapters turn SDK exceptions and stream outcomes into a FailureCode by *type* (never by matching
message text); this module owns the policy for each code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class FailureCode(StrEnum):
    RATE_LIMIT = "RATE_LIMIT"
    API_KEY = "API_KEY"
    SERVER_ERROR = "SERVER_ERROR"
    NETWORK = "NETWORK"
    TRUNCATED = "TRUNCATED"
    CONTENT_BLOCKED = "CONTENT_BLOCKED"
    SCHEMA_VALIDATION = "SCHEMA_VALIDATION"
    UNKNOWN = "UNKNOWN"
    # Set by the recovery sweep: the worker holding the job stopped renewing its lease.
    WORKER_LOST = "WORKER_LOST"
    # The project's daily token ceiling is reached: no new model call until it renews.
    SERVICE_BUDGET = "SERVICE_BUDGET"
    # The job's tasks kept failing before a worker could claim it (the sweep counted them).
    UNDELIVERED = "UNDELIVERED"


_RETRYABLE = {
    FailureCode.WORKER_LOST,
    FailureCode.SERVICE_BUDGET,
    FailureCode.UNDELIVERED,
    FailureCode.RATE_LIMIT,
    FailureCode.SERVER_ERROR,
    FailureCode.NETWORK,
    FailureCode.TRUNCATED,
    FailureCode.SCHEMA_VALIDATION,
}

_MESSAGES = {
    FailureCode.RATE_LIMIT: (
        "The question generator is over its usage limit right now. Try again in a few minutes."
    ),
    FailureCode.API_KEY: (
        "The service's access to the question generator is misconfigured. Retrying will not "
        "help; please report this problem."
    ),
    FailureCode.SERVER_ERROR: ("The question generator had a temporary problem. Try again later."),
    FailureCode.NETWORK: ("The connection to the question generator was lost. Try again later."),
    FailureCode.TRUNCATED: (
        "The question generator stopped before finishing. The questions saved so far are kept; "
        "retry to generate the rest."
    ),
    FailureCode.CONTENT_BLOCKED: (
        "The question generator declined this request for safety reasons. Try describing "
        "what you want to learn differently."
    ),
    FailureCode.SCHEMA_VALIDATION: (
        "The question generator did not produce usable questions. Retry, or make your "
        "request more specific."
    ),
    FailureCode.UNKNOWN: "Something unexpected went wrong while generating questions.",
    FailureCode.UNDELIVERED: (
        "The service could not start generating your questions. Nothing is lost; retry in a "
        "few minutes."
    ),
    FailureCode.SERVICE_BUDGET: (
        "The service has used its question-generation budget for today. The questions saved "
        "so far are kept; retry after midnight UTC."
    ),
    FailureCode.WORKER_LOST: (
        "The worker generating your questions stopped unexpectedly. The questions saved so far "
        "are kept; retry to generate the rest."
    ),
}

# Anything shaped like a Google API key or a bearer token never reaches a job document.
_SECRET = re.compile(r"AIza[0-9A-Za-z_\-]{20,}|ya29\.[0-9A-Za-z_\-.]+|Bearer\s+\S+")
_MAX_DETAIL = 300


@dataclass(frozen=True)
class Failure:
    code: FailureCode
    retryable: bool
    message: str


class ModelError(Exception):
    """Raised by the model adapter: a classified failure of one model call."""

    def __init__(
        self, code: FailureCode, detail: str = "", *, retry_after_seconds: float | None = None
    ) -> None:
        super().__init__(f"{code}: {detail}" if detail else str(code))
        self.code = code
        self.detail = detail
        # How long the model asked us to wait before trying again (a 429's RetryInfo).
        self.retry_after_seconds = retry_after_seconds


def scrub(text: str) -> str:
    return _SECRET.sub("[redacted]", text)[:_MAX_DETAIL]


def failure_for(code: FailureCode, detail: str = "") -> Failure:
    message = _MESSAGES[code]
    if code is FailureCode.UNKNOWN and detail:
        # The model's own words help here (e.g. the offline model naming the topics it knows).
        message = f"{message} {scrub(detail)}"
    return Failure(code=code, retryable=code in _RETRYABLE, message=message)


def retry_delay(asked: float | None, *, attempt: int, base: float, cap: float) -> float:
    """The wait before a job's next attempt: exponential in the attempts made (``base``,
    2×, 4×, …), at least what the model asked for (a 429's RetryInfo), at most ``cap``."""
    backoff: float = base * 2.0 ** max(attempt - 1, 0)
    return min(cap, max(backoff, asked or 0.0))


def is_final(failure: Failure, *, attempt: int, max_attempts: int) -> bool:
    """A failure ends the job when retrying cannot help or no delivery is left."""
    return not failure.retryable or attempt >= max_attempts
