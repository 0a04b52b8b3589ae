"""Cells of the text tables (Markdown and LaTeX share them; a ``Style`` says how each writes
a ± sign, a missing value, a best value and a name)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd

from atr_bench.record.metric_names import BY_KEY
from atr_bench.report.aggregate import BoardRow
from atr_bench.report.columns import (
    KEY_COLUMNS,
    METRIC_COLUMNS,
    STAT_COLUMNS,
    Column,
    key_cells,
    shown_columns,
)
from atr_bench.report.significance import METHODS, NEAR_BEST
from atr_bench.report.stats import DIGITS, format_mean_std

QUOTED = "quoted, not re-run"
REFERENCE_PREFACE = (
    f"Published numbers, {QUOTED} by this harness; they are not ranked or marked against the "
    "measured rows above. Metrics not published are shown as –."
)
"""The paragraph that opens a board's quoted rows (Markdown and page)."""
NOTES = (
    "Mean ± sample std over seeds (test split). R@k and mAP@10 in percent, higher is better; "
    "MedR lower is better; order acc. = percent of captions preferring their own clip over its "
    "order-swapped twin. Bold: best value per column, only where that row has two or more "
    "seeds and is clearly above chance (chance levels below the table); a row of 1 seed shows "
    "no std. Rows sorted by t2a R@1. "
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
    mark: str
    """After the t2a R@1 of a row not significantly below the best."""


Table = tuple[list[str], list[list[str]]]
"""Headers and body cells."""


def measured_table(rows: Sequence[BoardRow], style: Style) -> Table:
    """Headers and cells of the measured rows."""
    columns = shown_columns(rows)
    extras = extra_columns(rows)
    headers = [style.escape(label) for _, label in KEY_COLUMNS]
    headers += [style.escape(column.label) for column in columns]
    headers += [style.escape(label) for label, _ in extras]
    body = []
    for row in rows:
        cells = [style.escape(cell) for cell in key_cells(row)]
        for column in columns:
            text = row.stats[column.key].text(style.pm, style.dash)
            text = style.bold(text) if column.key in row.best else text
            cells.append(text + style.mark if column.key == "t2a_R1" and row.near_best else text)
        cells += [cell(row, style) or style.dash for _, cell in extras]
        body.append(cells)
    return headers, body


Cell = Callable[[BoardRow, Style], str]
"""A cell's text in a style ("" when the row has no value)."""


def _interval_cell(column: str) -> Cell:
    """``[low, high]`` of a row's interval of ``column``."""

    def cell(row: BoardRow, _: Style) -> str:
        if column not in row.intervals:
            return ""
        low, high = row.intervals[column]
        return f"[{low:.{DIGITS}f}, {high:.{DIGITS}f}]"

    return cell


def extra_columns(rows: Sequence[BoardRow]) -> list[tuple[str, Cell]]:
    """(label, cell) of the columns only some boards have: intervals where rows kept their
    per-query ranks, cost and code where records carry them (an empty cell is shown as
    missing)."""
    extras: list[tuple[str, Cell]] = []
    for key in interval_columns(rows):
        direction, _, metric = key.partition("_")
        extras.append((f"{direction} {BY_KEY[metric].label} 95% CI", _interval_cell(key)))
    if any(row.parameters is not None for row in rows):
        extras += [
            ("params", lambda row, _: "" if row.parameters is None else f"{row.parameters:,}"),
            ("train s/seed", lambda row, style: row.train_seconds.text(style.pm, "")),
            ("device", lambda row, style: style.escape("; ".join(sorted(row.devices)))),
        ]
    if any(row.code for row in rows):
        extras.append(("code", lambda row, style: style.escape(row.code)))
    if any(row.sources for row in rows):
        extras.append(("source", lambda row, style: style.escape(", ".join(row.sources))))
    return extras


def interval_columns(rows: Sequence[BoardRow]) -> list[str]:
    """The stat columns some row has an interval of, in the order asked for."""
    return list(dict.fromkeys(key for row in rows for key in row.intervals))


UNSOUND_NOTE = (
    "⚠ unsound: the row's poolings failed the named soundness checks and were trained with "
    "--allow-unsound; such rows come after the others and are never marked best."
)
CODE_NOTE = "code: the components' distributions and versions, and a digest of their code."
SOURCE_NOTE = (
    "source: where a row's runs were read from (a runs folder as given, or a bundle by its "
    "name). A run found in several is counted once; copies of a run that differ are left off "
    "(or one source's taken, with --prefer), never averaged."
)


def notes_below(rows: Sequence[BoardRow]) -> list[str]:
    """What the optional columns and marks mean, and the chance levels, stated under the
    table."""
    methods = dict.fromkeys(row.interval_method for row in rows if row.interval_method)
    notes = [METHODS[method] for method in methods]
    if any(row.near_best for row in rows) or methods:
        notes.append(NEAR_BEST)
    notes += [CODE_NOTE] if any(row.code for row in rows) else []
    notes += [SOURCE_NOTE] if any(row.sources for row in rows) else []
    notes += [UNSOUND_NOTE] if any(row.unsound for row in rows) else []
    if any(row.zero_shot for row in rows):
        notes.append(ZERO_SHOT)
    return notes + chance_notes(rows)


ZERO_SHOT = (
    "Zero-shot rows (pooling zeroshot): a pretrained dual encoder's own towers, tested as they "
    "are on this test set; nothing was trained under this board's protocol."
)


def chance_notes(rows: Sequence[BoardRow], columns: Sequence[Column] = STAT_COLUMNS) -> list[str]:
    """One line per distinct set of chance levels of ``columns`` among the rows (rows on one
    test split share theirs)."""
    labels = {column.key: column.label for column in columns}
    measured = {key for row in rows for key, stat in row.stats.items() if stat.n > 0}
    levels = dict.fromkeys(
        tuple((k, v) for k, v in row.chance.items() if k in measured and k in labels)
        for row in rows
    )
    lines = []
    for chance in filter(None, levels):
        cells = [f"{labels[key]} {value:.{CHANCE_DIGITS}f}" for key, value in chance]
        lines.append(
            "Chance (a random ranking of the test split, or a coin for the order pairs): "
            + ", ".join(cells)
            + "."
        )
    return lines


CHANCE_DIGITS = 2
"""Decimals of chance levels (they are often well under the boards' one decimal)."""


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
