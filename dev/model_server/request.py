"""Reading a generateContent request: the parts of the worker's prompt the offline model uses.

Only `user` contents count (never `systemInstruction`, which merely describes the format), so a
topic is taken from what the learner asked for, as docs/model-protocol.md lays it out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import ApiError
from .response import estimate_tokens
from .schema import OutputSettings, SchemaRoot, read_output_settings

Call = Literal["clarify", "stream"]

LEARNER_REQUEST = re.compile(r"<learner_request>(.*?)</learner_request>", re.DOTALL)
EXISTING_QUESTIONS = re.compile(r"<existing_questions>(.*?)</existing_questions>", re.DOTALL)
QUESTION_COUNT = re.compile(r"Number of questions to write:\s*(\d+)")
MAX_COUNT = re.compile(r"Maximum number of questions:\s*(\d+)")
# "20 questions", "10 cards" in the learner's own words.
ASKED_COUNT = re.compile(r"\b(\d{1,3})\s+(?:questions|cards|flashcards|items)\b", re.IGNORECASE)
TOPIC_LINE = re.compile(r"^\s*Topic:\s*(.+?)\s*$", re.MULTILINE)

# What GET /_admin/requests shows of a request: JSON key -> ModelRequest attribute.
SUMMARY_FIELDS: dict[str, str] = {
    "call": "call",
    "model": "model",
    "apiVersion": "version",
    "learnerRequest": "learner_request",
    "topicLine": "topic_line",
    "count": "count",
    "existingQuestions": "existing",
    "responseMimeType": "response_mime_type",
    "hasSchema": "has_schema",
    "maxCount": "max_count",
    "askedCount": "asked_count",
    "schemaRoot": "schema_root",
    "envelope": "envelope",
    "maxItems": "max_items",
    "thinkingBudget": "thinking_budget",
    "thinkingLevel": "thinking_level",
}


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
    max_count: int | None = None
    # The count in the learner's own words ("20 questions"), if any.
    asked_count: int | None = None
    output: OutputSettings = field(default_factory=OutputSettings)

    @property
    def schema_root(self) -> SchemaRoot | None:
        return self.output.schema_root

    @property
    def envelope(self) -> bool:
        """The one-call answer: `{"topic", "count", "questions": [...]}` instead of an array."""
        return self.output.envelope

    @property
    def max_items(self) -> int | None:
        return self.output.max_items

    @property
    def thinking_budget(self) -> int | None:
        return self.output.thinking_budget

    @property
    def thinking_level(self) -> str | None:
        return self.output.thinking_level

    def summary(self) -> dict[str, Any]:
        """What GET /_admin/requests shows for this request."""
        values = {key: getattr(self, attr) for key, attr in SUMMARY_FIELDS.items()}
        return {key: list(v) if isinstance(v, tuple) else v for key, v in values.items()}


def parse_request(body: bytes, call: Call, model: str, version: str) -> ModelRequest:
    """Read the worker's request; raise ApiError(400) the way the real API would."""
    payload = _payload(body)
    user_text = "\n".join(
        text
        for content in payload["contents"]
        if isinstance(content, dict) and content.get("role", "user") == "user"
        for text in _texts(content)
    )
    system_text = "\n".join(_texts(payload.get("systemInstruction")))
    learner = LEARNER_REQUEST.search(user_text)
    learner_request = learner.group(1).strip() if learner else None
    topic_match = TOPIC_LINE.search(user_text)
    config = payload.get("generationConfig")
    config = config if isinstance(config, dict) else {}
    mime = config.get("responseMimeType")
    return ModelRequest(
        call=call,
        model=model.removeprefix("models/"),
        version=version,
        user_text=user_text,
        learner_request=learner_request,
        count=_number(QUESTION_COUNT, user_text),
        topic_line=topic_match.group(1) if topic_match else None,
        existing=_existing(user_text),
        response_mime_type=mime if isinstance(mime, str) else None,
        has_schema="responseSchema" in config or "responseJsonSchema" in config,
        prompt_tokens=estimate_tokens(user_text) + estimate_tokens(system_text),
        max_count=_number(MAX_COUNT, user_text),
        asked_count=_number(ASKED_COUNT, learner_request or ""),
        output=read_output_settings(config),
    )


def _number(pattern: re.Pattern[str], text: str) -> int | None:
    match = pattern.search(text)
    return int(match.group(1)) if match else None


def _payload(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"Invalid JSON payload received. {exc}") from exc
    if not isinstance(payload, dict):
        raise ApiError(400, "Invalid JSON payload received. Expected an object.")
    contents = payload.get("contents")
    if not isinstance(contents, list) or not contents:
        raise ApiError(400, "* GenerateContentRequest.contents: contents is not specified\n")
    return payload


def _texts(content: object) -> list[str]:
    if not isinstance(content, dict):
        return []
    parts = content.get("parts")
    if not isinstance(parts, list):
        return []
    return [p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)]


def _existing(user_text: str) -> tuple[str, ...]:
    """The <existing_questions> lines, stripped, blank ones left out."""
    match = EXISTING_QUESTIONS.search(user_text)
    if match is None:
        return ()
    return tuple(line.strip() for line in match.group(1).splitlines() if line.strip())
