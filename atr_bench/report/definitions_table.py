"""A board's rows under each metric definition side by side: per direction, atr-bench's R@k
beside the released code's and the ties=hits one, then mAP@10, nDCG@10 and MRR@10, so a
number can be put next to another paper's or tool's under its own definition."""

from __future__ import annotations

from collections.abc import Sequence

from atr_bench.record.metric_names import BY_KEY, DIRECTIONS
from atr_bench.report.aggregate import BoardRow
from atr_bench.report.columns import (
    DEFINITION_COLUMNS,
    KEY_COLUMNS,
    METRIC_COLUMNS,
    SIDE_BY_SIDE,
    Column,
    definition_columns,
    key_cells,
)
from atr_bench.report.text_table import Style, Table, chance_notes

DEFINITIONS_TITLE = "Metric definitions side by side"
"""The heading of a board's section of these tables (Markdown and page)."""
DEFINITIONS_NOTE = (
    "The same rows and runs under the definitions of other papers and tools, from the same "
    'per-query ranks (README, "Metric definitions"). Unlabelled: atr-bench\'s own, ties '
    "averaged (an item tied with others takes the mean of their positions). (released code): "
    "the paper's released code, whose R@k also counts a rank of k + 0.5; its R@1, MedR and "
    "MeanR are atr-bench's. (ties=hits): a relevant item tied with others counts as the first "
    "of them, so a model that scores every item alike gets 100 %. nDCG@10 and MRR@10: MTEB's "
    "(binary relevance; a2t: all of a clip's captions relevant), each averaged over every "
    "order of tied items. All in percent. – : not in records made before record schema 4 "
    "(run them again with --force to add it)."
)
NAMING = ("extractor", "pooling", "hash", "settings", "seeds")
"""The key columns that name a row in these tables (settings: also its unsound mark)."""


def definition_notes(rows: Sequence[BoardRow]) -> list[str]:
    """What the tables say, and the chance levels of nDCG@10 and MRR@10 (the other R@k have
    atr-bench's, stated under the main table)."""
    metric = {c.key: BY_KEY[c.key.partition("_")[2]] for c in DEFINITION_COLUMNS}
    own_chance = [c for c in DEFINITION_COLUMNS if metric[c.key].recall_at is None]
    return [DEFINITIONS_NOTE, *chance_notes(rows, own_chance)]


def _columns(direction: str) -> list[Column]:
    by_key = {c.key: c for c in (*METRIC_COLUMNS, *DEFINITION_COLUMNS)}
    return [by_key[f"{direction}_{metric}"] for metric in SIDE_BY_SIDE]


def definition_tables(rows: Sequence[BoardRow], style: Style) -> list[tuple[str, Table]]:
    """(direction, table) of each direction, where some row's records hold the other
    definitions; none for boards of older records alone."""
    if not definition_columns(rows):
        return []
    labels = [label for _, label in KEY_COLUMNS]
    picked = [labels.index(name) for name in NAMING]
    tables = []
    for direction in DIRECTIONS:
        columns = _columns(direction)
        headers = [style.escape(labels[i]) for i in picked]
        headers += [style.escape(c.label) for c in columns]
        body = []
        for row in rows:
            names = key_cells(row)
            cells = [style.escape(names[i]) for i in picked]
            for column in columns:
                text = row.stats[column.key].text(style.pm, style.dash)
                cells.append(style.bold(text) if column.key in row.best else text)
            body.append(cells)
        tables.append((direction, (headers, body)))
    return tables
