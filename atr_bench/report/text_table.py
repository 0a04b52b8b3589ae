"""Cells of the text tables (Markdown and LaTeX share them; a ``Style`` says how each writes
a ± sign, a missing value, a best value and a name)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd

from atr_bench.report.aggregate import BoardRow
from atr_bench.report.columns import KEY_COLUMNS, METRIC_COLUMNS, key_cells, shown_columns
from atr_bench.report.stats import format_mean_std

QUOTED = "quoted, not re-run"
NOTES = (
    "Mean ± sample std over seeds (test split). R@k and mAP@10 in percent, higher is better; "
    "MedR lower is better; order acc. = percent of captions preferring their own clip over its "
    "order-swapped twin. Bold: best measured value per column. Rows sorted by t2a R@1. "
    "Rows differ when any protocol setting differs (hash = protocol hash); settings = what a "
    "row's runs set away from the protocol's defaults."
)
"""How to read a board, under its title."""

REFERENCE_KEYS = ("system", "extractor", "pooling", "text_encoder")
REFERENCE_LABELS = ("system", "extractor", "pooling", "text encoder", "source")


@dataclass(frozen=True)
class Style:
    """How one text format writes the parts of a cell."""

    pm: str
    dash: str
    bold: Callable[[str], str]
    escape: Callable[[str], str]
    """Applied to headers and names (never to numbers)."""


Table = tuple[list[str], list[list[str]]]
"""Headers and body cells."""


def measured_table(rows: Sequence[BoardRow], style: Style) -> Table:
    """Headers and cells of the measured rows."""
    columns = shown_columns(rows)
    headers = [style.escape(label) for _, label in KEY_COLUMNS]
    headers += [style.escape(column.label) for column in columns]
    body = []
    for row in rows:
        cells = [style.escape(cell) for cell in key_cells(row)]
        for column in columns:
            text = row.stats[column.key].text(style.pm, style.dash)
            cells.append(style.bold(text) if column.key in row.best else text)
        body.append(cells)
    return headers, body


def sources(ref: pd.DataFrame) -> dict[tuple[str, str, str], int]:
    """Each distinct (source, url, note) of the quoted rows and its footnote number."""
    keys = zip(ref["source"], ref["url"], ref["note"], strict=True)
    return {key: i for i, key in enumerate(dict.fromkeys(keys), start=1)}


def reference_table(ref: pd.DataFrame, style: Style) -> Table:
    """Headers and cells of the quoted rows, in the measured table's metric columns."""
    headers = [style.escape(h) for h in (*REFERENCE_LABELS, *(c.label for c in METRIC_COLUMNS))]
    numbers = sources(ref)
    body = []
    for _, row in ref.iterrows():
        cells = [style.escape(str(row[k])) for k in REFERENCE_KEYS]
        cells.append(f"[{numbers[(row['source'], row['url'], row['note'])]}]")
        for column in METRIC_COLUMNS:
            value = row.get(column.key)
            std = row.get(f"{column.key}_std")
            cells.append(format_mean_std(value, std, style.pm, style.dash))
        body.append(cells)
    return headers, body
