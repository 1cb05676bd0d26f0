"""Building what the SDK reads back: GenerateContentResponse objects and their framing.

Field names follow the Gemini API as `google-genai` reads them:
`candidates[].content.parts[].text`, `finishReason`, `index`, `usageMetadata`,
`promptFeedback`, `modelVersion`, `responseId`.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

SAFETY_RATINGS_BLOCKED: list[dict[str, Any]] = [
    {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True},
]


def estimate_tokens(text: str) -> int:
    return len(text) // 4


def new_response_id() -> str:
    # The real API's response ids are 22 characters long.
    return uuid.uuid4().hex[:22]


def usage(prompt_tokens: int, candidate_tokens: int) -> dict[str, int]:
    return {
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": candidate_tokens,
        "totalTokenCount": prompt_tokens + candidate_tokens,
    }


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
