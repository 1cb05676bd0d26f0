"""Fault specs for the offline model server's admin API, written compactly."""

from __future__ import annotations

from typing import Any


def invalid_items(*defects: tuple[Any, ...], call: str | None = None) -> dict[str, Any]:
    """An `invalid_items` fault: each defect is (at, defect) or (at, defect, of)."""
    items = [
        {"at": at, "defect": defect, **({"of": rest[0]} if rest else {})}
        for at, defect, *rest in defects
    ]
    fault: dict[str, Any] = {"kind": "invalid_items", "items": items}
    if call is not None:
        fault["call"] = call
    return fault
