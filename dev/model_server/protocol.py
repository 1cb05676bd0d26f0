"""Gemini REST shapes: what the worker sends (parsed) and what the SDK expects back (built).

Request and response field names follow the Gemini API (`generativelanguage.googleapis.com`)
as `google-genai` reads them: `candidates[].content.parts[].text`, `finishReason`, `index`,
`usageMetadata`, `promptFeedback`, `modelVersion`, `responseId`; errors are
`{"error": {"code", "message", "status", "details"}}`, which the SDK turns into
`errors.ClientError` (4xx) or `errors.ServerError` (5xx) with `.code`, `.status`, `.message`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from .decks import describe_topics

Call = Literal["clarify", "stream"]

MODEL_PATH = re.compile(
    r"^/(?P<version>v1(?:alpha|beta)?\d*)/models/(?P<model>[^/:]+)"
    r":(?P<method>generateContent|streamGenerateContent)$"
)

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

LEARNER_REQUEST = re.compile(r"<learner_request>(.*?)</learner_request>", re.DOTALL)
EXISTING_QUESTIONS = re.compile(r"<existing_questions>(.*?)</existing_questions>", re.DOTALL)
QUESTION_COUNT = re.compile(r"Number of questions to write:\s*(\d+)")
TOPIC_LINE = re.compile(r"^\s*Topic:\s*(.+?)\s*$", re.MULTILINE)
# "20 questions", "10 cards" in the learner's own words (clarify only).
ASKED_COUNT = re.compile(r"\b(\d{1,3})\s+(?:questions|cards|flashcards|items)\b", re.IGNORECASE)


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


@dataclass(frozen=True)
class ModelRequest:
    """The parts of a generateContent request the offline model looks at."""

    call: Call
    model: str
    version: str
    user_text: str
    learner_request: str | None
    count: int | None
    topic_line: str | None
    existing: tuple[str, ...]
    response_mime_type: str | None
    has_schema: bool
    prompt_tokens: int

    def summary(self) -> dict[str, Any]:
        """What GET /_admin/requests shows for this request."""
        return {
            "call": self.call,
            "model": self.model,
            "apiVersion": self.version,
            "learnerRequest": self.learner_request,
            "topicLine": self.topic_line,
            "count": self.count,
            "existingQuestions": list(self.existing),
            "responseMimeType": self.response_mime_type,
            "hasSchema": self.has_schema,
        }


def _texts(content: object) -> list[str]:
    if not isinstance(content, dict):
        return []
    parts = content.get("parts")
    if not isinstance(parts, list):
        return []
    return [p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)]


def parse_request(body: bytes, call: Call, model: str, version: str) -> ModelRequest:
    """Read the worker's request; raise ApiError(400) the way the real API would."""
    try:
        payload = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"Invalid JSON payload received. {exc}") from exc
    if not isinstance(payload, dict):
        raise ApiError(400, "Invalid JSON payload received. Expected an object.")
    contents = payload.get("contents")
    if not isinstance(contents, list) or not contents:
        raise ApiError(400, "* GenerateContentRequest.contents: contents is not specified\n")
    user_texts: list[str] = []
    for content in contents:
        role = content.get("role", "user") if isinstance(content, dict) else None
        if role == "user":
            user_texts.extend(_texts(content))
    user_text = "\n".join(user_texts)
    system_text = "\n".join(_texts(payload.get("systemInstruction")))

    learner = LEARNER_REQUEST.search(user_text)
    count_match = QUESTION_COUNT.search(user_text)
    topic_match = TOPIC_LINE.search(user_text)
    existing_match = EXISTING_QUESTIONS.search(user_text)
    existing = (
        tuple(line.strip() for line in existing_match.group(1).splitlines() if line.strip())
        if existing_match
        else ()
    )
    config = payload.get("generationConfig")
    config = config if isinstance(config, dict) else {}
    mime = config.get("responseMimeType")
    return ModelRequest(
        call=call,
        model=model.removeprefix("models/"),
        version=version,
        user_text=user_text,
        learner_request=learner.group(1).strip() if learner else None,
        count=int(count_match.group(1)) if count_match else None,
        topic_line=topic_match.group(1) if topic_match else None,
        existing=existing,
        response_mime_type=mime if isinstance(mime, str) else None,
        has_schema="responseSchema" in config or "responseJsonSchema" in config,
        prompt_tokens=estimate_tokens(user_text) + estimate_tokens(system_text),
    )


def estimate_tokens(text: str) -> int:
    return len(text) // 4


def usage(prompt_tokens: int, candidate_tokens: int) -> dict[str, int]:
    return {
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": candidate_tokens,
        "totalTokenCount": prompt_tokens + candidate_tokens,
    }


SAFETY_RATINGS_BLOCKED: list[dict[str, Any]] = [
    {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True},
]


def candidate(
    text: str | None,
    finish_reason: str | None,
    *,
    safety_blocked: bool = False,
) -> dict[str, Any]:
    """One candidate; `text=None` leaves out `content` (a SAFETY stop has none)."""
    result: dict[str, Any] = {}
    if text is not None:
        result["content"] = {"parts": [{"text": text}], "role": "model"}
    if finish_reason is not None:
        result["finishReason"] = finish_reason
    if safety_blocked:
        result["safetyRatings"] = SAFETY_RATINGS_BLOCKED
    result["index"] = 0
    return result


def response(
    model: str,
    response_id: str,
    usage_metadata: dict[str, int],
    *,
    candidates: list[dict[str, Any]] | None = None,
    prompt_feedback: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A GenerateContentResponse (one SSE event, or the whole generateContent body)."""
    result: dict[str, Any] = {}
    if candidates is not None:
        result["candidates"] = candidates
    if prompt_feedback is not None:
        result["promptFeedback"] = prompt_feedback
    result["usageMetadata"] = usage_metadata
    result["modelVersion"] = model
    result["responseId"] = response_id
    return result


def blocked_prompt_feedback(block_reason: str) -> dict[str, Any]:
    return {"blockReason": block_reason, "safetyRatings": SAFETY_RATINGS_BLOCKED}


def sse_event(event: dict[str, Any]) -> bytes:
    """One server-sent event exactly as Gemini frames it: `data: <one-line JSON>\\r\\n\\r\\n`."""
    data = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    return b"data: " + data.encode() + b"\r\n\r\n"


def json_body(payload: object, *, indent: int | None = 2) -> bytes:
    return json.dumps(payload, ensure_ascii=False, indent=indent).encode()
