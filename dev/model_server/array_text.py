"""The JSON array text a streamed answer spells out, one item per line."""

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
