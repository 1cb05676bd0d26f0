"""Gemini through google-genai: the one streaming call of an attempt.

The stream ends normally only when the model finished its answer; every other ending (an SDK
error, a transport error, a block, a truncation) raises a classified ModelError
(gemini_errors.py). The SDK's own retries are off: Cloud Tasks redelivers the job instead.
"""

from __future__ import annotations

import logging
from collections.abc import Generator

from google.genai import Client, errors, types

from ..domain.failures import FailureCode, ModelError
from ..domain.jobs import Usage
from ..domain.prompts import SYSTEM_INSTRUCTION, GenerationRequest, generation_prompt
from ..services.ports import StreamChunk
from .gemini_errors import TRANSPORT_ERRORS, classify_api_error, ending_failure
from .gemini_schema import answer_schema

# A primary that is over quota or failing may well be answered by another model; a refusal,
# a bad key or a truncation would be the same there.
_FALL_BACK_ON = frozenset({FailureCode.RATE_LIMIT, FailureCode.SERVER_ERROR})
log = logging.getLogger(__name__)


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


def thinking_config(budget: int | None, level: str | None) -> types.ThinkingConfig | None:
    """Gemini 2.5 takes a token budget (0 switches thinking off on Flash); Gemini 3 takes a
    level. Streaming shows nothing until thinking ends, so less thinking, sooner questions."""
    if level:
        return types.ThinkingConfig(thinking_level=types.ThinkingLevel(level.upper()))
    if budget is not None:
        return types.ThinkingConfig(thinking_budget=budget)
    return None


class GeminiModel:
    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        model: str,
        timeout_seconds: float,
        thinking: types.ThinkingConfig | None = None,
        fallback_model: str = "",
    ) -> None:
        self.model = model
        self._fallback = fallback_model
        self._thinking = thinking
        self._client = Client(
            api_key=api_key or "offline",
            http_options=types.HttpOptions(
                base_url=base_url or None,
                timeout=int(timeout_seconds * 1000),
                retry_options=types.HttpRetryOptions(attempts=1),
            ),
        )

    def _config(self, max_items: int) -> types.GenerateContentConfig:
        return types.GenerateContentConfig(
            system_instruction=SYSTEM_INSTRUCTION,
            response_mime_type="application/json",
            response_json_schema=answer_schema(max_items),
            thinking_config=self._thinking,
        )

    def stream_questions(self, request: GenerationRequest) -> Generator[StreamChunk, None, None]:
        """Yield the streamed text; end normally only on STOP, else raise ModelError.

        When the primary model is rate-limited or failing before it wrote anything, the
        fallback model (if set) is asked instead, once; each chunk names its model."""
        models = [self.model, *([self._fallback] if self._fallback else [])]
        for index, model in enumerate(models):
            started = False
            try:
                for chunk in self._stream(model, request):
                    started = True
                    yield chunk
                return
            except ModelError as error:
                last = index == len(models) - 1
                if started or last or error.code not in _FALL_BACK_ON:
                    raise
                log.warning(
                    "primary model unavailable; asking the fallback",
                    extra={"event": "model.fallback", "model": model, "errorCode": error.code},
                )

    def _stream(self, model: str, request: GenerationRequest) -> Generator[StreamChunk, None, None]:
        finish_reason: str | None = None
        try:
            stream = self._client.models.generate_content_stream(
                model=model,
                contents=generation_prompt(request),
                config=self._config(max(1, request.wanted)),
            )
            for response in stream:
                _check_blocked(response)
                finish_reason = _finish_reason(response) or finish_reason
                yield StreamChunk(text=response.text or "", usage=_usage(response), model=model)
        except errors.APIError as exc:
            raise classify_api_error(exc) from exc
        except TRANSPORT_ERRORS as exc:
            raise ModelError(FailureCode.NETWORK, type(exc).__name__) from exc
        problem = ending_failure(finish_reason, what="stream")
        if problem is not None:
            raise problem
