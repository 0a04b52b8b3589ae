"""What the two benchmark tables share: number cells and one section per device."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from tabulate import tabulate

from atr_bench.files.atomic import atomic_write


def number(value: float) -> str:
    """A rate cell: thousands separated from 100 up, three significant digits below; ``-``
    for a missing value."""
    if pd.isna(value):
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def device_sections(
    table: pd.DataFrame, headers: Sequence[str], cells: Callable[[Any], list[str]]
) -> list[str]:
    """A ``## device`` heading and a GitHub table per device, in the table's order; ``cells``
    turns one row (a ``DataFrame.itertuples`` tuple) into its cells."""
    lines: list[str] = []
    for device, rows in table.groupby("device", sort=False):
        body = [cells(r) for r in rows.itertuples()]
        table_text = tabulate(body, headers=headers, tablefmt="github", disable_numparse=True)
        lines += [f"## {device}", "", table_text, ""]
    return lines


def write_markdown(out: Path, text: str) -> Path:
    return atomic_write(out, lambda tmp: tmp.write_text(text, encoding="utf-8"))
