"""Errors answered the way the Gemini API answers them.

The body is `{"error": {"code", "message", "status", "details"?}}`, which `google-genai` turns
into `errors.ClientError` (4xx) or `errors.ServerError` (5xx) with `.code`, `.status`,
`.message`; the wording and `details` copy what generativelanguage.googleapis.com sends.
"""

from __future__ import annotations

from typing import Any

from .decks import describe_topics

STATUS_BY_CODE: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

# What the real API says for each status (as observed from generativelanguage.googleapis.com).
DEFAULT_MESSAGES: dict[int, str] = {
    400: "Request contains an invalid argument.",
    401: (
        "Request had invalid authentication credentials. Expected OAuth 2 access token, "
        "login cookie or other valid authentication credential."
    ),
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    429: (
        "You exceeded your current quota, please check your plan and billing details. For more "
        "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
    ),
    500: (
        "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting"
    ),
    503: "The model is overloaded. Please try again later.",
    504: "Deadline expired before operation could complete.",
}
API_KEY_INVALID_MESSAGE = "API key not valid. Please pass a valid API key."


class ApiError(Exception):
    """An error answered as the Gemini API does; the SDK raises ClientError / ServerError."""

    def __init__(
        self,
        code: int,
        message: str | None = None,
        status: str | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        self.code = code
        self.status = status or STATUS_BY_CODE.get(code, "UNKNOWN")
        self.message = message or DEFAULT_MESSAGES.get(code, self.status)
        self.details = details
        super().__init__(f"{code} {self.status}: {self.message}")

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = self.details
        return {"error": error}


def error_info(reason: str) -> list[dict[str, Any]]:
    """`details` as the real API sends them for a reasoned error (e.g. API_KEY_INVALID)."""
    details: list[dict[str, Any]] = [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": reason,
            "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com"},
        }
    ]
    if reason == "API_KEY_INVALID":
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                "locale": "en-US",
                "message": API_KEY_INVALID_MESSAGE,
            }
        )
    return details


def quota_details(retry_delay: str | None) -> list[dict[str, Any]]:
    """`details` of a real 429: which quota, a help link and (usually) how long to wait."""
    details: list[dict[str, Any]] = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": (
                        "generativelanguage.googleapis.com/generate_content_free_tier_requests"
                    ),
                    "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                    "quotaValue": "10",
                }
            ],
        },
        {
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [
                {
                    "description": "Learn more about Gemini API quotas",
                    "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                }
            ],
        },
    ]
    if retry_delay is not None:
        details.append(
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay}
        )
    return details


def unknown_topic_error(learner_request: str) -> ApiError:
    shown = " ".join(learner_request.split())
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return ApiError(
        400,
        f'The offline model cannot write questions about "{shown}": it only knows these '
        f"topics: {describe_topics()}. Ask for one of them, or set GEMINI_API_KEY to use the "
        "real Gemini API for any topic.",
    )
