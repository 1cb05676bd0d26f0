"""Gemini through google-genai: the clarify call and the question stream.

SDK failures are classified here by exception *type* and HTTP code into a domain FailureCode
(ModelError); nothing upstream sees an SDK exception. The SDK's own retries are switched off:
Cloud Tasks redelivers the whole job with backoff instead.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from google.genai import Client, errors, types
from pydantic import ValidationError

from ..domain.failures import FailureCode, ModelError
from ..domain.jobs import Usage
from ..domain.prompts import (
    SYSTEM_INSTRUCTION,
    ClarifiedIntent,
    clarify_prompt,
    generation_prompt,
)

# Structured output of the stream: a JSON array of question objects (docs/model-protocol.md).
QUESTIONS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "question": {"type": "string"},
            "type": {"type": "string", "enum": ["multiple-choice", "true-false"]},
            "options": {"type": "array", "items": {"type": "string"}},
            "correctAnswer": {"type": "string"},
            "explanation": {"type": "string"},
        },
        "required": ["question", "type", "options", "correctAnswer", "explanation"],
        "propertyOrdering": ["question", "type", "options", "correctAnswer", "explanation"],
    },
}


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
_KEY_REASONS = {"API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_SERVICE_BLOCKED"}


@dataclass(frozen=True)
class StreamChunk:
    text: str
    finish_reason: str | None
    usage: Usage | None


def classify_api_error(error: errors.APIError) -> ModelError:
    """HTTP errors of the Gemini API, by class and code."""
    if isinstance(error, errors.ServerError):
        return ModelError(FailureCode.SERVER_ERROR, f"HTTP {error.code}")
    if error.code == 429:
        return ModelError(FailureCode.RATE_LIMIT, "HTTP 429")
    if error.code in (401, 403) or _names_key_problem(error):
        return ModelError(FailureCode.API_KEY, f"HTTP {error.code}")
    return ModelError(FailureCode.UNKNOWN, str(error.message or ""))


def _names_key_problem(error: errors.APIError) -> bool:
    details = (error.details or {}).get("error", {}).get("details", [])
    return any(isinstance(d, dict) and d.get("reason") in _KEY_REASONS for d in details)


def _usage(response: types.GenerateContentResponse) -> Usage | None:
    meta = response.usage_metadata
    if meta is None:
        return None
    # Thinking tokens are billed as output: count them, or usage and cost read low.
    return Usage(
        prompt_tokens=meta.prompt_token_count or 0,
        output_tokens=(meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0),
    )


def _check_blocked(response: types.GenerateContentResponse) -> None:
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason is not None:
        raise ModelError(FailureCode.CONTENT_BLOCKED, str(feedback.block_reason))


def _finish_reason(response: types.GenerateContentResponse) -> str | None:
    if not response.candidates:
        return None
    reason = response.candidates[0].finish_reason
    if reason is None:
        return None
    return str(reason.value if hasattr(reason, "value") else reason)


class GeminiModel:
    def __init__(self, *, api_key: str, base_url: str, model: str, timeout_seconds: float) -> None:
        self.model = model
        self._client = Client(
            api_key=api_key or "offline",
            http_options=types.HttpOptions(
                base_url=base_url or None,
                timeout=int(timeout_seconds * 1000),
                retry_options=types.HttpRetryOptions(attempts=1),
            ),
        )

    def _config(self, schema: dict[str, Any]) -> types.GenerateContentConfig:
        return types.GenerateContentConfig(
            system_instruction=SYSTEM_INSTRUCTION,
            response_mime_type="application/json",
            response_json_schema=schema,
        )

    def clarify(self, learner_prompt: str) -> tuple[ClarifiedIntent, Usage | None]:
        try:
            response = self._client.models.generate_content(
                model=self.model,
                contents=clarify_prompt(learner_prompt),
                config=self._config(ClarifiedIntent.model_json_schema(by_alias=True)),
            )
        except errors.APIError as exc:
            raise classify_api_error(exc) from exc
        except TRANSPORT_ERRORS as exc:
            raise ModelError(FailureCode.NETWORK, type(exc).__name__) from exc
        _check_blocked(response)
        reason = _finish_reason(response)
        if reason in _BLOCKING_FINISH:
            raise ModelError(FailureCode.CONTENT_BLOCKED, reason or "")
        if reason != "STOP":
            raise ModelError(FailureCode.TRUNCATED, f"clarify finished with {reason}")
        try:
            intent = ClarifiedIntent.model_validate(json.loads(response.text or ""))
        except (ValueError, ValidationError) as exc:
            raise ModelError(FailureCode.SCHEMA_VALIDATION, "clarify output") from exc
        return intent, _usage(response)

    def stream_questions(
        self, learner_prompt: str, *, topic: str, count: int, existing: list[str]
    ) -> Generator[StreamChunk, None, None]:
        """Yield the streamed text; raise ModelError for any failure, including a block."""
        contents = generation_prompt(learner_prompt, topic=topic, count=count, existing=existing)
        try:
            stream = self._client.models.generate_content_stream(
                model=self.model, contents=contents, config=self._config(QUESTIONS_SCHEMA)
            )
            for response in stream:
                _check_blocked(response)
                yield StreamChunk(
                    text=response.text or "",
                    finish_reason=_finish_reason(response),
                    usage=_usage(response),
                )
        except errors.APIError as exc:
            raise classify_api_error(exc) from exc
        except TRANSPORT_ERRORS as exc:
            raise ModelError(FailureCode.NETWORK, type(exc).__name__) from exc


def stream_outcome(finish_reason: str | None) -> ModelError | None:
    """None when the stream ended properly; otherwise the failure its ending means."""
    if finish_reason == "STOP":
        return None
    if finish_reason in _BLOCKING_FINISH:
        return ModelError(FailureCode.CONTENT_BLOCKED, finish_reason or "")
    return ModelError(FailureCode.TRUNCATED, f"stream finished with {finish_reason}")
