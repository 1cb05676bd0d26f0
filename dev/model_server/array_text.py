"""The JSON text a streamed answer spells out: an array (one item per line), or the
envelope object that holds such an array after its plan."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RawFragment:
    """Text placed in the array verbatim (not valid JSON)."""

    text: str


Item = dict[str, Any] | RawFragment


def render(items: Sequence[Item]) -> tuple[str, list[int]]:
    """The array text (one item per line) and, per item, the offset just past its last char."""
    if not items:
        return "[]", []
    text = "["
    ends: list[int] = []
    for index, item in enumerate(items):
        text += "\n  " if index == 0 else ",\n  "
        text += item.text if isinstance(item, RawFragment) else json.dumps(item, ensure_ascii=False)
        ends.append(len(text))
    return text + "\n]", ends


@dataclass(frozen=True)
class Envelope:
    """The one-call answer's plan, written before its questions array."""

    topic: str
    count: int

    def header(self) -> str:
        """The object's text up to (not including) the questions array's `[`."""
        topic = json.dumps(self.topic, ensure_ascii=False)
        return f'{{"topic": {topic}, "count": {self.count}, "questions": '


def render_envelope(envelope: Envelope, items: Sequence[Item]) -> tuple[str, list[int], int]:
    """`{"topic": ..., "count": n, "questions": [...]}` with the array as `render` writes it;
    per item the offset just past its last char, and the offset just past the array's `[`."""
    header = envelope.header()
    text, ends = render(items)
    return header + text + "}", [len(header) + end for end in ends], len(header) + 1
