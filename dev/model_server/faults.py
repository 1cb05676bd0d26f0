"""Faults the offline model can inject, as posted to `POST /_admin/faults`.

A fault is a JSON object; a list of them is consumed in order, one per matching model request
(a fault matches when its `call` is the request's call or "any", and its kind can happen on
that call). `times` repeats a fault for that many matching requests. Unknown fields are
rejected so that a typo in a test fails loudly instead of silently injecting nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .protocol import (
    API_KEY_INVALID_MESSAGE,
    STATUS_BY_CODE,
    ApiError,
    Call,
    error_info,
    quota_details,
)

FaultCall = Literal["clarify", "stream", "any"]

# kind -> the calls it can happen on.
KINDS: dict[str, frozenset[Call]] = {
    "ok": frozenset({"clarify", "stream"}),
    "http_error": frozenset({"clarify", "stream"}),
    "api_key_invalid": frozenset({"clarify", "stream"}),
    "drop": frozenset({"clarify", "stream"}),
    "stall": frozenset({"clarify", "stream"}),
    "max_tokens": frozenset({"clarify", "stream"}),
    "safety": frozenset({"clarify", "stream"}),
    "blocked_prompt": frozenset({"clarify", "stream"}),
    "bad_json": frozenset({"clarify", "stream"}),
    "truncate": frozenset({"stream"}),
    "error_event": frozenset({"stream"}),
    "invalid_items": frozenset({"stream"}),
}

# Defects `invalid_items` can give an item (see dev/model_server/stream.py: make_defective).
DEFECTS: frozenset[str] = frozenset(
    {
        "three_options",  # multiple-choice with 3 options (true-false: a third option)
        "answer_not_in_options",  # correctAnswer is none of the options
        "empty_question",  # question is ""
        "duplicate",  # copy of an earlier item (`of`, else the nearest earlier unbroken one)
        "repeat_existing",  # same text as the first line of <existing_questions>
        "duplicate_options",  # 4 options, two of them equal
        "bad_type",  # type "short-answer"
        "missing_answer",  # no correctAnswer field
        "bad_true_false",  # true-false with options ["Yes", "No"] (or with 4 options)
    }
)

FINISH_REASONS = frozenset(
    {"SAFETY", "RECITATION", "LANGUAGE", "OTHER", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII"}
)
BLOCK_REASONS = frozenset({"SAFETY", "OTHER", "BLOCKLIST", "PROHIBITED_CONTENT", "IMAGE_SAFETY"})

COMMON_FIELDS = frozenset({"kind", "call", "times", "paceMs"})
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
}
DEFAULT_TAIL_CHARS = {"max_tokens": 24}
DEFAULT_RETRY_DELAY = "2s"


class FaultSpecError(ValueError):
    """A fault the admin API cannot accept; the message says what is wrong."""


@dataclass(frozen=True)
class InvalidItem:
    at: int
    defect: str
    of: int | None = None


@dataclass
class Fault:
    kind: str
    call: FaultCall = "any"
    times: int = 1
    pace_ms: int | None = None
    code: int | None = None
    status: str | None = None
    message: str | None = None
    reason: str | None = None
    retry_delay: str | None = DEFAULT_RETRY_DELAY
    # None: before any response is sent (drop, stall); else after that many complete items.
    after_questions: int | None = None
    tail_chars: int = 0
    seconds: float | None = None
    mode: Literal["close", "reset"] = "close"
    finish_reason: str = "SAFETY"
    block_reason: str = "SAFETY"
    items: tuple[InvalidItem, ...] = ()
    spec: dict[str, Any] = field(default_factory=dict)

    def matches(self, call: Call) -> bool:
        return self.call in (call, "any") and call in KINDS[self.kind]

    def cut_after(self) -> int:
        """Complete items to stream before the fault bites (0 when unset)."""
        return self.after_questions or 0

    def api_error(self) -> ApiError:
        """The error of an http_error / api_key_invalid / error_event fault."""
        if self.kind == "api_key_invalid" or self.reason == "API_KEY_INVALID":
            return ApiError(
                self.code or 400,
                self.message or API_KEY_INVALID_MESSAGE,
                self.status,
                error_info("API_KEY_INVALID"),
            )
        code = self.code or 503
        details = error_info(self.reason) if self.reason else None
        if code == 429 and not details:
            details = quota_details(self.retry_delay)
        return ApiError(code, self.message, self.status, details)

    def describe(self) -> dict[str, Any]:
        """The fault as posted, with `times` showing how many uses are left."""
        return {**self.spec, "kind": self.kind, "call": self.call, "times": self.times}


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
    fault.pace_ms = _int(spec, "paceMs", 0)
    fault.after_questions = _int(spec, "afterQuestions", 0)
    tail = _int(spec, "tailChars", 0)
    fault.tail_chars = DEFAULT_TAIL_CHARS.get(kind, 0) if tail is None else tail

    if kind in ("http_error", "error_event"):
        code = _int(spec, "code", 400, 599)
        if kind == "http_error" and code is None:
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
    if kind == "stall":
        seconds = spec.get("seconds")
        if seconds is not None and (
            isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0
        ):
            raise FaultSpecError(
                f"seconds must be a number >= 0 or null (forever), got {seconds!r}"
            )
        fault.seconds = None if seconds is None else float(seconds)
    if kind == "drop":
        mode = spec.get("mode", "close")
        if mode not in ("close", "reset"):
            raise FaultSpecError(f'mode must be "close" (FIN) or "reset" (RST), got {mode!r}')
        fault.mode = mode
    if kind == "safety":
        finish = spec.get("finishReason", "SAFETY")
        if finish not in FINISH_REASONS:
            raise FaultSpecError(f"finishReason must be one of {sorted(FINISH_REASONS)}")
        fault.finish_reason = finish
    if kind == "blocked_prompt":
        block = spec.get("blockReason", "SAFETY")
        if block not in BLOCK_REASONS:
            raise FaultSpecError(f"blockReason must be one of {sorted(BLOCK_REASONS)}")
        fault.block_reason = block
    if kind == "invalid_items":
        fault.items = _parse_items(spec.get("items"))
    return fault


def _parse_items(raw: object) -> tuple[InvalidItem, ...]:
    if not isinstance(raw, list) or not raw:
        raise FaultSpecError('invalid_items needs "items": [{"at": 0, "defect": "..."}, ...]')
    items: list[InvalidItem] = []
    for entry in raw:
        if not isinstance(entry, dict) or set(entry) - {"at", "defect", "of"}:
            raise FaultSpecError(
                f'each item is {{"at": int, "defect": str, "of"?: int}}: {entry!r}'
            )
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
        items.append(InvalidItem(at, defect, of))
    positions = [item.at for item in items]
    if len(set(positions)) != len(positions):
        raise FaultSpecError("two defects at the same position")
    return tuple(items)


def parse_faults(payload: object) -> list[Fault]:
    """Accepts a list of faults, {"faults": [...]}, or a single fault object."""
    if isinstance(payload, dict) and "faults" in payload:
        payload = payload["faults"]
    if isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list):
        raise FaultSpecError("expected a JSON list of faults")
    return [parse_fault(spec) for spec in payload]
