"""Published numbers quoted beside the leaderboards (never re-run, never ranked with our runs).

The data lives in ``atr_bench/report/reference_results.csv``, one metric per line, each with its
source and address, so every quoted number can be checked against where it was printed.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from atr_bench.errors import AtrBenchError

REFERENCE_CSV = Path(__file__).parent / "reference_results.csv"
REFERENCE_COLUMNS = (
    "dataset",
    "source",
    "url",
    "system",
    "extractor",
    "pooling",
    "text_encoder",
    "direction",
    "metric",
    "value",
    "std",
    "note",
)
ROW_KEYS = ("source", "url", "system", "extractor", "pooling", "text_encoder", "note")


def load_reference(path: Path = REFERENCE_CSV) -> pd.DataFrame:
    """Every quoted number (long format: one metric of one system per row)."""
    try:
        table = pd.read_csv(path, dtype={"value": float}, keep_default_na=False)
        # an empty std cell: the source published no spread for that number
        table["std"] = pd.to_numeric(table["std"].replace("", float("nan")), errors="raise")
    except (OSError, ValueError, KeyError) as exc:
        raise AtrBenchError(f"{path}: unreadable reference table ({exc})") from None
    missing = [c for c in REFERENCE_COLUMNS if c not in table.columns]
    if missing:
        raise AtrBenchError(f"{path}: reference table lacks columns {', '.join(missing)}")
    return table


def reference_rows(dataset: str, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """The quoted systems of one dataset, one row each, with ``<direction>_<metric>`` and
    ``<direction>_<metric>_std`` columns; empty when nothing was published for it."""
    table = load_reference() if table is None else table
    subset = table[table["dataset"] == dataset]
    if subset.empty:
        return pd.DataFrame(columns=list(ROW_KEYS))
    subset = subset.assign(column=subset["direction"] + "_" + subset["metric"])
    values = subset.pivot_table(index=list(ROW_KEYS), columns="column", values="value", sort=False)
    stds = subset.pivot_table(index=list(ROW_KEYS), columns="column", values="std", sort=False)
    return values.join(stds.add_suffix("_std")).reset_index()
