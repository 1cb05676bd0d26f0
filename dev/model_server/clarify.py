"""The generateContent (clarify) answer: the deck's intent and title and how many questions."""

from __future__ import annotations

import json
from typing import Any

from .decks import Deck
from .faults import Fault
from .request import ModelRequest
from .response import blocked_prompt_feedback, candidate, estimate_tokens, response, usage

BAD_JSON_PREFIX = "Here is the JSON you asked for:\n"


def clarify_body(
    request: ModelRequest, deck: Deck, fault: Fault | None, response_id: str
) -> dict[str, Any]:
    """The whole response body, as the fault (if any) shapes it."""
    if fault is not None and fault.kind == "blocked_prompt":
        return response(
            request.model,
            response_id,
            usage(request.prompt_tokens, 0),
            prompt_feedback=blocked_prompt_feedback(fault.block_reason),
        )
    text, answer = _candidate(_answer_text(request, deck), fault)
    return response(
        request.model,
        response_id,
        usage(request.prompt_tokens, estimate_tokens(text)),
        candidates=[answer],
    )


def _answer_text(request: ModelRequest, deck: Deck) -> str:
    estimated = len(deck)
    asked = request.asked_count  # "20 questions" in the learner's own words
    if asked is not None and 0 < asked < estimated:
        estimated = asked
    return json.dumps({"intent": deck.intent, "topic": deck.title, "estimatedCount": estimated})


def _candidate(text: str, fault: Fault | None) -> tuple[str, dict[str, Any]]:
    """The candidate and the text it holds (which the token count is taken from)."""
    kind = fault.kind if fault else "ok"
    if kind == "safety":
        assert fault is not None
        return "", candidate(None, fault.finish_reason, safety_blocked=True)
    if kind == "max_tokens":
        text = text[: len(text) // 2]
        return text, candidate(text, "MAX_TOKENS")
    if kind == "bad_json":
        text = BAD_JSON_PREFIX + text
    return text, candidate(text, "STOP")
