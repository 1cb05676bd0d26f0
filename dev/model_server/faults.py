"""What a fault is: one injected misbehaviour, applied to the next matching model request(s).

A fault matches when its `call` is the request's call or "any" and its kind can happen on that
call; `times` repeats it for that many matching requests. The admin API's JSON shape is read by
fault_parsing.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import API_KEY_INVALID_MESSAGE, ApiError, error_info, quota_details
from .request import Call

FaultCall = Literal["clarify", "stream", "any"]
DropMode = Literal["close", "reset"]

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
    "over_deliver": frozenset({"stream"}),
}

# Defects `invalid_items` can give an item (see defects.py: make_defective).
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

DEFAULT_RETRY_DELAY = "2s"
# How many questions `over_deliver` streams beyond the planned count unless told.
DEFAULT_EXTRA = 10


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
    mode: DropMode = "close"
    finish_reason: str = "SAFETY"
    block_reason: str = "SAFETY"
    items: tuple[InvalidItem, ...] = ()
    # over_deliver: questions streamed beyond the planned count.
    extra: int = DEFAULT_EXTRA
    # Only requests for this model (a primary that is rate-limited while a fallback is not).
    model: str | None = None
    # None: every matching request; else the chance that a matching request takes it (a
    # request it passes over goes on to the next fault). A soak's "~10 % of calls fail".
    probability: float | None = None
    spec: dict[str, Any] = field(default_factory=dict)

    def matches(self, call: Call, model: str | None = None) -> bool:
        if self.model is not None and model is not None and self.model != model:
            return False
        return self.call in (call, "any") and call in KINDS[self.kind]

    def extra_questions(self) -> int:
        """Questions to stream beyond the planned count (over_deliver), else 0."""
        return self.extra if self.kind == "over_deliver" else 0

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
