"""The structured output Gemini is asked for, generated from the domain's pydantic models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ..domain.prompts import MAX_TOPIC_LENGTH
from ..domain.questions import QuestionDraft


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
                referenced = dict(definitions[node["$ref"].rsplit("/", 1)[-1]])
                referenced.pop("description", None)  # a docstring, for developers
                return inline(referenced)
            out = {k: inline(v) for k, v in node.items() if k != "title"}
            if out.get("type") == "object" and "properties" in out:
                out["propertyOrdering"] = list(out["properties"])
            return out
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    schema: dict[str, Any] = inline(raw)
    return schema


class GenerationAnswer(BaseModel):
    """The answer's shape: the plan first (so the worker knows it before any question), then
    the questions. Field order is the order Gemini writes them in (propertyOrdering)."""

    topic: str = Field(max_length=MAX_TOPIC_LENGTH)
    count: int = Field(ge=1)
    questions: list[QuestionDraft]


def answer_schema(max_items: int) -> dict[str, Any]:
    """The answer schema, saying how many questions may come at most (count and array)."""
    schema = response_schema(GenerationAnswer)
    schema["properties"]["count"]["maximum"] = max_items
    schema["properties"]["questions"]["maxItems"] = max_items
    return schema
