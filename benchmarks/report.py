"""Figures and the setup table, printed alike by every benchmark."""

from __future__ import annotations

import math

from rich.markup import escape
from rich.table import Table


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), q in [0, 100]."""
    if not sorted_values:
        return math.nan
    if len(sorted_values) == 1:
        return sorted_values[0]
    rank = (len(sorted_values) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


def setup_table(info: dict[str, str]) -> Table:
    """The machine, the code, the command and the method, printed before the figures."""
    table = Table(title="What was measured, and how", show_header=False, title_justify="left")
    table.add_column("item", style="bold")
    table.add_column("value")
    for key, value in info.items():
        table.add_row(key, escape(value))
    return table
