"""The model's misbehaviour during a soak: a share of calls fail, in every way the issue names.

Each kind below is posted once to the offline model's admin API with a probability, so that
every streamGenerateContent call draws its fault at random (dev/model_server/README.md). The
queue is consumed in order — a call a fault passes over goes on to the next — so each kind's
probability is its share of what is left: kind i of n gets rate/n of all calls.
"""

from __future__ import annotations

from typing import Any

from benchmarks.soaking.options import MODEL_TIMEOUT_SECONDS

# Longer than the worker's model timeout, so a stall is a dropped stream to the worker.
STALL_SECONDS = MODEL_TIMEOUT_SECONDS + 2

KINDS: tuple[dict[str, Any], ...] = (
    {"kind": "http_error", "code": 429, "retryDelay": "1s"},
    {"kind": "http_error", "code": 500},
    {"kind": "http_error", "code": 503},
    {"kind": "drop"},
    {"kind": "drop", "afterQuestions": 2, "mode": "reset"},
    {"kind": "stall", "seconds": STALL_SECONDS},
    {"kind": "stall", "afterQuestions": 1, "seconds": STALL_SECONDS},
    {"kind": "truncate", "afterQuestions": 2},
    {"kind": "error_event", "afterQuestions": 1, "code": 503},
    {"kind": "invalid_items", "items": [{"at": 1, "defect": "three_options"}]},
    {"kind": "invalid_items", "items": [{"at": 2, "defect": "duplicate"}]},
    {"kind": "over_deliver", "extra": 5},
)


def fault_specs(rate: float) -> list[dict[str, Any]]:
    """The kinds with probabilities giving each rate/len(KINDS) of all stream calls."""
    share, left, specs = rate / len(KINDS), 1.0, []
    for kind in KINDS:
        specs.append({**kind, "call": "stream", "times": 1_000_000, "probability": share / left})
        left -= share
    return specs


def fault_label(spec: dict[str, Any] | None) -> str:
    """A short name of a fault a request took, for the tally."""
    if not spec:
        return "none"
    detail = spec.get("code") or spec.get("afterQuestions")
    if spec["kind"] == "invalid_items":
        detail = spec["items"][0]["defect"]
    return f"{spec['kind']}" + (f" {detail}" if detail is not None else "")
