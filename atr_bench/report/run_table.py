"""The table ``atr-bench run`` prints: one row per direction, every metric, mean ± std."""

from __future__ import annotations

from collections.abc import Iterable

from tabulate import tabulate

from atr_bench.record.metric_names import DIRECTIONS, METRIC_KEYS
from atr_bench.record.run_record import RunRecord
from atr_bench.report.stats import Stat


def metrics_table(records: Iterable[RunRecord], tablefmt: str = "github") -> str:
    """Test metrics of a group of runs (one row per direction), mean ± std over the seeds."""
    records = list(records)
    rows = [
        [direction] + [Stat.of([r.test[direction][m] for r in records]).text() for m in METRIC_KEYS]
        for direction in DIRECTIONS
    ]
    return tabulate(rows, headers=["", *METRIC_KEYS], tablefmt=tablefmt, disable_numparse=True)
