"""The column model every leaderboard format renders: names, then statistics.

A ``Column`` is one statistic of a board row (its key in ``BoardRow.stats``, which is also
its CSV prefix, its label in text tables, and which way is better); ``KEY_COLUMNS`` are the
columns that name a row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from atr_bench.record.metric_names import BY_KEY, DIRECTIONS

if TYPE_CHECKING:
    from atr_bench.report.aggregate import BoardRow

BOARD_METRICS = ("R1", "R5", "R10", "mAP10", "MedR")
"""The metrics a board shows, per direction (every metric stays in the records)."""
HASH_CHARS = 8
"""Characters of the protocol hash shown in text tables (the CSV has all of it)."""


@dataclass(frozen=True)
class Column:
    """One statistic column: ``key`` in ``BoardRow.stats``, ``label`` in text tables."""

    key: str
    label: str
    lower_is_better: bool = False


METRIC_COLUMNS = tuple(
    Column(f"{d}_{m}", f"{d} {BY_KEY[m].label}", BY_KEY[m].lower_is_better)
    for d in DIRECTIONS
    for m in BOARD_METRICS
)
ORDER_COLUMN = Column("order_acc", "order acc.")
STAT_COLUMNS = (*METRIC_COLUMNS, ORDER_COLUMN)
"""Every statistic a row carries under atr-bench's own definitions (the CSV writes all of
them)."""

BOARD_DEFINITIONS = (
    "R1_hits",
    "R5_released",
    "R5_hits",
    "R10_released",
    "R10_hits",
    "nDCG10",
    "MRR10",
)
"""Other papers' and tools' definitions a board shows, per direction, where its records hold
them (record schema 4 on; ``metric_names.DEFINITION_METRICS``)."""
DEFINITION_COLUMNS = tuple(
    Column(f"{d}_{m}", f"{d} {BY_KEY[m].label}") for d in DIRECTIONS for m in BOARD_DEFINITIONS
)
SIDE_BY_SIDE = (
    "R1",
    "R1_hits",
    "R5",
    "R5_released",
    "R5_hits",
    "R10",
    "R10_released",
    "R10_hits",
    "mAP10",
    "nDCG10",
    "MRR10",
)
"""A direction's metrics in the order of a board's table of definitions side by side."""

KEY_COLUMNS = (
    ("extractor", "extractor"),
    ("pooling", "pooling"),
    ("text_pooling", "text pooling"),
    ("text_encoder", "text encoder"),
    ("protocol_hash", "hash"),
    ("settings", "settings"),
    ("seeds", "seeds"),
)
"""(field, label) of the columns naming a row in text tables."""


def shown_columns(rows: Sequence[BoardRow]) -> list[Column]:
    """The statistic columns text tables show for these rows: the order-contrast accuracy
    only when some row measured it."""
    if any(row.stats[ORDER_COLUMN.key].n > 0 for row in rows):
        return list(STAT_COLUMNS)
    return list(METRIC_COLUMNS)


def definition_columns(rows: Sequence[BoardRow]) -> list[Column]:
    """The other definitions' columns some row measured (none for older records)."""
    return [c for c in DEFINITION_COLUMNS if any(row.stats[c.key].n > 0 for row in rows)]


def key_cells(row: BoardRow) -> list[str]:
    """The naming cells of a row, in ``KEY_COLUMNS`` order (``–`` for no settings; an unsound
    row's settings start with ``UNSOUND`` and its failed checks)."""
    keys = dict(row.keys, protocol_hash=row.keys["protocol_hash"][:HASH_CHARS])
    settings = row.settings or "–"
    if row.unsound:
        settings = f"{UNSOUND} {', '.join(row.unsound)}; {settings}"
    seeds = "1 seed" if len(row.seeds) == 1 else str(len(row.seeds))
    return [keys[k] for k, _ in KEY_COLUMNS[:-2]] + [settings, seeds]


UNSOUND = "⚠ unsound:"
"""Marks a row whose poolings failed soundness checks and trained with --allow-unsound."""
