"""Gemini through google-genai: the clarify call and the question stream.

SDK failures are classified here by exception *type* and HTTP code into a domain FailureCode
(ModelError); nothing upstream sees an SDK exception. The SDK's own retries are switched off:
Cloud Tasks redelivers the whole job with backoff instead.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Generator
from typing import Any

from google.genai import Client, errors, types
from pydantic import BaseModel, ValidationError

from ..domain.failures import FailureCode, ModelError
from ..domain.jobs import Usage
from ..domain.prompts import (
    SYSTEM_INSTRUCTION,
    ClarifiedIntent,
    clarify_prompt,
    generation_prompt,
)
from ..domain.questions import QuestionDraft
from ..services.ports import StreamChunk


def response_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A pydantic model's JSON schema as Gemini's structured output takes it: references
    inlined, titles dropped, and the properties in the model's order (Gemini writes them in
    ``propertyOrdering``, which is what lets the stream parser finish an item early)."""
    raw = model.model_json_schema(by_alias=True)
    definitions = raw.pop("$defs", {})
    raw.pop("description", None)  # the class docstring speaks to developers, not the model

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(definitions[node["$ref"].rsplit("/", 1)[-1]])
            out = {k: inline(v) for k, v in node.items() if k != "title"}
            if out.get("type") == "object" and "properties" in out:
                out["propertyOrdering"] = list(out["properties"])
            return out
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    schema: dict[str, Any] = inline(raw)
    return schema


# Structured output of the stream: a JSON array of question objects (docs/model-protocol.md).
QUESTIONS_SCHEMA: dict[str, Any] = {"type": "array", "items": response_schema(QuestionDraft)}


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
        problem = ending_failure(_finish_reason(response), what="clarify")
        if problem is not None:
            raise problem
        try:
            intent = ClarifiedIntent.model_validate(json.loads(response.text or ""))
        except (ValueError, ValidationError) as exc:
            raise ModelError(FailureCode.SCHEMA_VALIDATION, "clarify output") from exc
        return intent, _usage(response)

    def stream_questions(
        self, learner_prompt: str, *, topic: str, count: int, existing: list[str]
    ) -> Generator[StreamChunk, None, None]:
        """Yield the streamed text; end normally only on STOP, else raise ModelError."""
        contents = generation_prompt(learner_prompt, topic=topic, count=count, existing=existing)
        finish_reason: str | None = None
        try:
            stream = self._client.models.generate_content_stream(
                model=self.model, contents=contents, config=self._config(QUESTIONS_SCHEMA)
            )
            for response in stream:
                _check_blocked(response)
                finish_reason = _finish_reason(response) or finish_reason
                yield StreamChunk(text=response.text or "", usage=_usage(response))
        except errors.APIError as exc:
            raise classify_api_error(exc) from exc
        except TRANSPORT_ERRORS as exc:
            raise ModelError(FailureCode.NETWORK, type(exc).__name__) from exc
        problem = ending_failure(finish_reason, what="stream")
        if problem is not None:
            raise problem


def ending_failure(finish_reason: str | None, *, what: str) -> ModelError | None:
    """None when a response ended properly (STOP); otherwise the failure its ending means."""
    if finish_reason == "STOP":
        return None
    if finish_reason in _BLOCKING_FINISH:
        return ModelError(FailureCode.CONTENT_BLOCKED, finish_reason or "")
    return ModelError(FailureCode.TRUNCATED, f"{what} finished with {finish_reason}")
