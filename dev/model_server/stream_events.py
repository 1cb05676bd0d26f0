"""The wire events of one streamGenerateContent answer, built from its plan.

Each text chunk becomes a GenerateContentResponse carrying running token counts; the plan's
ending adds a last event (finish reason, safety stop, error) or a dropped connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .faults import DropMode, Fault
from .response import blocked_prompt_feedback, candidate, estimate_tokens, response, usage
from .stream import Pause, StreamPlan, TextChunk


@dataclass(frozen=True)
class Event:
    payload: dict[str, Any]
    # (index, question) of the items this event finishes: they are logged once it is sent.
    completes: tuple[tuple[int, str], ...] = ()
    # The question item whose text this event's chunk starts in (pacing.py), if any.
    item: int | None = None


@dataclass(frozen=True)
class Drop:
    mode: DropMode


Action = Event | Pause | Drop


def stream_actions(
    plan: StreamPlan, model: str, prompt_tokens: int, fault: Fault | None, response_id: str
) -> list[Action]:
    """What to send, in order; only the pacing between events is left to the writer."""

    def answer(sent: int, **fields: Any) -> dict[str, Any]:
        tokens = usage(prompt_tokens, estimate_tokens(plan.text[:sent]))
        return response(model, response_id, tokens, **fields)

    if plan.ending == "blocked":
        assert fault is not None
        return [Event(answer(0, prompt_feedback=blocked_prompt_feedback(fault.block_reason)))]
    actions: list[Action] = []
    sent, finished = 0, False
    for step in plan.steps:
        if isinstance(step, Pause):
            actions.append(step)
            continue
        assert isinstance(step, TextChunk)
        sent = step.end
        finish = plan.finish_reason if step.final else None
        completes = tuple((index, plan.item_text(index)) for index in step.completes)
        payload = answer(sent, candidates=[candidate(step.text, finish)])
        actions.append(Event(payload, completes, step.item))
        finished = finished or step.final
    if plan.ending in ("drop", "error_event"):
        assert fault is not None
        ending = Drop(fault.mode) if plan.ending == "drop" else Event(fault.api_error().body())
        return [*actions, ending]
    last = _last_candidate(plan, finished)
    if last is not None:
        actions.append(Event(answer(sent, candidates=[last])))
    return actions


def _last_candidate(plan: StreamPlan, finished: bool) -> dict[str, Any] | None:
    """The candidate of a separate last event, if the ending has one."""
    if plan.ending in ("stop", "max_tokens") and not finished:
        return candidate("", plan.finish_reason)
    if plan.ending == "safety":
        return candidate(None, plan.finish_reason, safety_blocked=True)
    return None
