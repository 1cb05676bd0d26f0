"""Reading a request's structured-output settings: the schema's shape and the thinking config.

The offline model only needs to know the schema's root ("object" or "array"), whether it is the
one-call envelope (an object with a "questions" property) and the questions array's `maxItems`.
Both spellings are read: `responseJsonSchema` (JSON Schema, lower-case types, `$ref`/`$defs`)
and `responseSchema` (the OpenAPI subset; google-genai 3.6 sends upper-case types and
snake_case keys such as `max_items`, and `thinkingConfig` as `thinking_budget`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

SchemaRoot = Literal["object", "array"]
ENVELOPE_KEY = "questions"


@dataclass(frozen=True)
class OutputSettings:
    """What a request's `generationConfig` says about the answer's shape and thinking."""

    schema_root: SchemaRoot | None = None
    envelope: bool = False
    max_items: int | None = None
    thinking_budget: int | None = None
    thinking_level: str | None = None


def read_output_settings(config: dict[str, Any]) -> OutputSettings:
    raw = config.get("responseJsonSchema") or config.get("responseSchema")
    schema = raw if isinstance(raw, dict) else None
    thinking = config.get("thinkingConfig")
    thinking = thinking if isinstance(thinking, dict) else {}
    budget = _either(thinking, "thinkingBudget", "thinking_budget")
    level = _either(thinking, "thinkingLevel", "thinking_level")
    if schema is None:
        return OutputSettings(thinking_budget=_integer(budget), thinking_level=_text(level))
    root = _root(schema)
    questions = _questions_schema(schema) if root == "object" else None
    array = questions if questions is not None else (schema if root == "array" else None)
    return OutputSettings(
        schema_root=root,
        envelope=questions is not None,
        max_items=_max_items(array, schema) if array is not None else None,
        thinking_budget=_integer(budget),
        thinking_level=_text(level),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _integer(value: object) -> int | None:
    """An integer, also as the decimal string the OpenAPI subset writes int64 as."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _either(mapping: dict[str, Any], camel: str, snake: str) -> object:
    return mapping[camel] if camel in mapping else mapping.get(snake)


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """Follow a local `$ref` ("#/$defs/Name" or "#/definitions/Name") once."""
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return schema
    target: object = root
    for part in ref[2:].split("/"):
        target = target.get(part) if isinstance(target, dict) else None
    return target if isinstance(target, dict) else schema


def _root(schema: dict[str, Any]) -> SchemaRoot | None:
    resolved = _resolve(schema, schema)
    kind = resolved.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    names = {k.lower() for k in kinds if isinstance(k, str)}
    if "object" in names or ("properties" in resolved and not names):
        return "object"
    if "array" in names or ("items" in resolved and not names):
        return "array"
    return None


def _questions_schema(schema: dict[str, Any]) -> dict[str, Any] | None:
    properties = _resolve(schema, schema).get("properties")
    if not isinstance(properties, dict) or ENVELOPE_KEY not in properties:
        return None
    questions = properties[ENVELOPE_KEY]
    return _resolve(questions, schema) if isinstance(questions, dict) else {}


def _max_items(array: dict[str, Any], root: dict[str, Any]) -> int | None:
    resolved = _resolve(array, root)
    return _integer(_either(resolved, "maxItems", "max_items"))
