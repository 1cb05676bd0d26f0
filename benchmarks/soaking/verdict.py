"""A check's verdict: its name, what it found, a note on what it saw."""

from __future__ import annotations

from dataclasses import dataclass, field

ACTIVE = frozenset({"pending", "processing"})
# Findings listed per check at most when printed (the count is always whole).
SHOWN = 8


@dataclass
class Check:
    name: str
    violations: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def passed(self) -> bool:
        return not self.violations
