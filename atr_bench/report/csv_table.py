"""The CSV leaderboard: the measured rows as plain numbers, mean and std in separate columns."""

from __future__ import annotations

from collections.abc import Sequence
from math import nan
from typing import Any

import pandas as pd

from atr_bench.report.aggregate import GROUP_KEYS, Board, BoardRow
from atr_bench.report.columns import STAT_COLUMNS, definition_columns
from atr_bench.report.text_table import interval_columns

FRAME_COLUMNS = (
    ["dataset", "protocol", *GROUP_KEYS, "settings", "seeds", "seed_list"]
    + [f"{c.key}_{part}" for c in STAT_COLUMNS for part in ("mean", "std")]
    + ["machines"]
)


def measured_frame(board: Board, rows: Sequence[BoardRow]) -> pd.DataFrame:
    """One line per measured row, in ``FRAME_COLUMNS`` (with the other metric definitions'
    columns before ``machines`` where records hold them), then intervals, cost, code, failed
    soundness checks and sources where some row has them."""
    records = []
    stat_columns = (*STAT_COLUMNS, *definition_columns(rows))
    intervals = interval_columns(rows)
    cost = any(row.parameters is not None for row in rows)
    code = any(row.code for row in rows)
    unsound = any(row.unsound for row in rows)
    sources = any(row.sources for row in rows)
    for row in rows:
        out: dict[str, Any] = {"dataset": board.dataset, "protocol": board.protocol}
        out.update({**row.keys, "settings": row.settings})
        out["seeds"] = len(row.seeds)
        out["seed_list"] = " ".join(map(str, row.seeds))
        for column in stat_columns:
            out[f"{column.key}_mean"] = row.stats[column.key].mean
            out[f"{column.key}_std"] = row.stats[column.key].std
        out["machines"] = "; ".join(sorted(row.devices))
        if intervals:
            for key in intervals:
                out[f"{key}_ci_low"], out[f"{key}_ci_high"] = row.intervals.get(key, (nan, nan))
            out["near_best"] = row.near_best
            out["interval_method"] = row.interval_method or ""
        out.update({f"{key}_chance": value for key, value in row.chance.items()})
        if cost:
            out["parameters"] = row.parameters
            out["train_seconds_mean"] = row.train_seconds.mean
            out["train_seconds_std"] = row.train_seconds.std
        if code:
            out["code"] = row.code
        if unsound:
            out["unsound"] = " ".join(row.unsound)
        if sources:
            out["source"] = "; ".join(row.sources)
        records.append(out)
    if not records:
        return pd.DataFrame(columns=FRAME_COLUMNS)
    return pd.DataFrame(records)


def render_csv(board: Board, rows: Sequence[BoardRow]) -> str:
    """CSV of the measured rows, a header line of column names and nothing else, so
    ``pandas.read_csv(path)`` reads it as it is (how it was made is in the board's provenance
    file beside it, ``provenance.SIDECAR``)."""
    return measured_frame(board, rows).to_csv(index=False, lineterminator="\n")
