"""Reading faults as posted to `POST /_admin/faults` into `Fault` objects.

Unknown fields are rejected so that a typo in a test fails loudly instead of silently
injecting nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import STATUS_BY_CODE
from .faults import DEFECTS, KINDS, Fault, InvalidItem

FINISH_REASONS = frozenset(
    {"SAFETY", "RECITATION", "LANGUAGE", "OTHER", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII"}
)
BLOCK_REASONS = frozenset({"SAFETY", "OTHER", "BLOCKLIST", "PROHIBITED_CONTENT", "IMAGE_SAFETY"})

COMMON_FIELDS = frozenset({"kind", "call", "times", "paceMs", "model", "probability"})
FIELDS: dict[str, frozenset[str]] = {
    "ok": frozenset(),
    "http_error": frozenset({"code", "status", "message", "reason", "retryDelay"}),
    "api_key_invalid": frozenset(),
    "drop": frozenset({"afterQuestions", "tailChars", "mode"}),
    "stall": frozenset({"afterQuestions", "seconds"}),
    "max_tokens": frozenset({"afterQuestions", "tailChars"}),
    "safety": frozenset({"afterQuestions", "tailChars", "finishReason"}),
    "blocked_prompt": frozenset({"blockReason"}),
    "bad_json": frozenset({"afterQuestions"}),
    "truncate": frozenset({"afterQuestions", "tailChars"}),
    "error_event": frozenset({"afterQuestions", "tailChars", "code", "status", "message"}),
    "invalid_items": frozenset({"items"}),
    "over_deliver": frozenset({"extra"}),
}
DEFAULT_TAIL_CHARS = {"max_tokens": 24}


class FaultSpecError(ValueError):
    """A fault the admin API cannot accept; the message says what is wrong."""


def parse_faults(payload: object) -> list[Fault]:
    """Accepts a list of faults, {"faults": [...]}, or a single fault object."""
    if isinstance(payload, dict) and "faults" in payload:
        payload = payload["faults"]
    if isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list):
        raise FaultSpecError("expected a JSON list of faults")
    return [parse_fault(spec) for spec in payload]


def parse_fault(spec: object) -> Fault:
    if not isinstance(spec, dict):
        raise FaultSpecError(f"a fault must be a JSON object, got {spec!r}")
    kind = spec.get("kind")
    if kind not in KINDS:
        raise FaultSpecError(f"unknown fault kind {kind!r}; known kinds: {sorted(KINDS)}")
    unknown = set(spec) - COMMON_FIELDS - FIELDS[kind]
    if unknown:
        allowed = sorted(COMMON_FIELDS | FIELDS[kind])
        raise FaultSpecError(f"{kind}: unknown field(s) {sorted(unknown)}; allowed: {allowed}")
    call = spec.get("call", "any")
    if call not in ("clarify", "stream", "any"):
        raise FaultSpecError(f'call must be "clarify", "stream" or "any", got {call!r}')
    if call != "any" and call not in KINDS[kind]:
        raise FaultSpecError(f"{kind} can only happen on {sorted(KINDS[kind])} calls")
    fault = Fault(kind=kind, call=call, spec=dict(spec))
    fault.times = _int(spec, "times", 1) or 1
    model = spec.get("model")
    if model is not None and not isinstance(model, str):
        raise FaultSpecError("model must be a model name, or absent for every model")
    fault.model = model
    fault.probability = _probability(spec)
    fault.pace_ms = _int(spec, "paceMs", 0)
    fault.after_questions = _int(spec, "afterQuestions", 0)
    tail = _int(spec, "tailChars", 0)
    fault.tail_chars = DEFAULT_TAIL_CHARS.get(kind, 0) if tail is None else tail
    read_options = KIND_OPTIONS.get(kind)
    if read_options is not None:
        read_options(spec, fault)
    return fault


def _int(spec: dict[str, Any], key: str, low: int, high: int | None = None) -> int | None:
    value = spec.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise FaultSpecError(f"{key} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f">= {low}"
        raise FaultSpecError(f"{key} must be {bounds}, got {value}")
    return value


def _probability(spec: dict[str, Any]) -> float | None:
    value = spec.get("probability")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise FaultSpecError(f"probability must be a number in (0, 1], got {value!r}")
    return float(value)


def _one_of(spec: dict[str, Any], key: str, allowed: frozenset[str]) -> str:
    value = spec.get(key, "SAFETY")
    if value not in allowed:
        raise FaultSpecError(f"{key} must be one of {sorted(allowed)}")
    return str(value)


def _error_options(spec: dict[str, Any], fault: Fault) -> None:
    code = _int(spec, "code", 400, 599)
    if fault.kind == "http_error" and code is None:
        raise FaultSpecError("http_error needs a code (400..599), e.g. 429, 500, 503")
    fault.code = code
    for key in ("status", "message", "reason"):
        value = spec.get(key)
        if value is not None and not isinstance(value, str):
            raise FaultSpecError(f"{key} must be a string")
    fault.status = spec.get("status") or (STATUS_BY_CODE.get(code) if code else None)
    fault.message = spec.get("message")
    fault.reason = spec.get("reason")
    if "retryDelay" in spec:
        delay = spec["retryDelay"]
        if delay is not None and not isinstance(delay, str):
            raise FaultSpecError('retryDelay must be a duration string like "2s", or null')
        fault.retry_delay = delay


def _stall_options(spec: dict[str, Any], fault: Fault) -> None:
    seconds = spec.get("seconds")
    if seconds is not None and (
        isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0
    ):
        raise FaultSpecError(f"seconds must be a number >= 0 or null (forever), got {seconds!r}")
    fault.seconds = None if seconds is None else float(seconds)


def _drop_options(spec: dict[str, Any], fault: Fault) -> None:
    mode = spec.get("mode", "close")
    if mode not in ("close", "reset"):
        raise FaultSpecError(f'mode must be "close" (FIN) or "reset" (RST), got {mode!r}')
    fault.mode = mode


def _safety_options(spec: dict[str, Any], fault: Fault) -> None:
    fault.finish_reason = _one_of(spec, "finishReason", FINISH_REASONS)


def _blocked_prompt_options(spec: dict[str, Any], fault: Fault) -> None:
    fault.block_reason = _one_of(spec, "blockReason", BLOCK_REASONS)


def _over_deliver_options(spec: dict[str, Any], fault: Fault) -> None:
    extra = _int(spec, "extra", 1)
    if extra is not None:
        fault.extra = extra


def _invalid_items_options(spec: dict[str, Any], fault: Fault) -> None:
    raw = spec.get("items")
    if not isinstance(raw, list) or not raw:
        raise FaultSpecError('invalid_items needs "items": [{"at": 0, "defect": "..."}, ...]')
    items = tuple(_invalid_item(entry) for entry in raw)
    positions = [item.at for item in items]
    if len(set(positions)) != len(positions):
        raise FaultSpecError("two defects at the same position")
    fault.items = items


def _invalid_item(entry: object) -> InvalidItem:
    if not isinstance(entry, dict) or set(entry) - {"at", "defect", "of"}:
        raise FaultSpecError(f'each item is {{"at": int, "defect": str, "of"?: int}}: {entry!r}')
    at = _int(entry, "at", 0)
    if at is None:
        raise FaultSpecError(f"item needs an position `at`: {entry!r}")
    defect = entry.get("defect")
    if defect not in DEFECTS:
        raise FaultSpecError(f"unknown defect {defect!r}; known: {sorted(DEFECTS)}")
    of = _int(entry, "of", 0)
    if defect == "duplicate":
        if at == 0:
            raise FaultSpecError("a duplicate needs an earlier item: at must be >= 1")
        if of is not None and of >= at:
            raise FaultSpecError("duplicate: `of` must point to an earlier item (of < at)")
    return InvalidItem(at, defect, of)


# The fields only some kinds have, read once the common ones are.
KIND_OPTIONS: dict[str, Callable[[dict[str, Any], Fault], None]] = {
    "http_error": _error_options,
    "error_event": _error_options,
    "stall": _stall_options,
    "drop": _drop_options,
    "safety": _safety_options,
    "blocked_prompt": _blocked_prompt_options,
    "invalid_items": _invalid_items_options,
    "over_deliver": _over_deliver_options,
}
