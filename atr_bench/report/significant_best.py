"""Which row of a column is significantly best: the paper table's bold.

A column's value is bold only when its row is the column's best as the Markdown board marks it
(``aggregate.mark_best``: the best displayed value, two or more seeds, clearly above chance,
no tie) and is significantly better than every other measured row, each pair tested at
``significance.ALPHA``:

- both rows kept per-query ranks of the same test queries and the metric is a mean over
  queries: the paired permutation test ``atr-bench compare`` uses, on the seed-averaged
  per-query scores;
- otherwise, both rows of two or more seeds: Welch's t-test over their seeds' values;
- otherwise (a single seed without ranks has no spread to test against): not shown to be
  worse, so nothing in the column is bold.

Requiring every pairwise test to reject is an intersection-union test, so the bold as a whole
keeps the level of one test without a multiplicity correction.
"""

from __future__ import annotations

from collections.abc import Sequence

from scipy import stats

from atr_bench.report.aggregate import BoardRow
from atr_bench.report.columns import STAT_COLUMNS
from atr_bench.report.significance import ALPHA, COMPARED, paired, pooled

LOWER_IS_BETTER = {column.key: column.lower_is_better for column in STAT_COLUMNS}


def _per_query(a: BoardRow, b: BoardRow, key: str) -> bool:
    """Whether ``a`` and ``b`` can be compared query by query on ``key``."""
    return (
        key.partition("_")[2] in COMPARED
        and bool(a.ranks)
        and bool(b.ranks)
        and a.ranks[0].same_queries(b.ranks[0])  # type: ignore[index]
    )


def beats(a: BoardRow, b: BoardRow, key: str) -> bool:
    """Whether ``a`` is significantly better than ``b`` on column ``key``."""
    sign = -1.0 if LOWER_IS_BETTER[key] else 1.0
    if _per_query(a, b, key):
        test = paired(pooled(a.ranks or [], key), pooled(b.ranks or [], key))
        return sign * test.difference > 0 and test.p < ALPHA
    x, y = a.stats[key], b.stats[key]
    if x.n < 2 or y.n < 2:
        return False
    if x.std == 0 and y.std == 0:  # no spread on either side: a t-test has nothing to go on
        return False
    welch = stats.ttest_ind_from_stats(x.mean, x.std, x.n, y.mean, y.std, y.n, equal_var=False)
    return sign * (x.mean - y.mean) > 0 and bool(welch.pvalue < ALPHA)


def significantly_best(rows: Sequence[BoardRow], key: str) -> BoardRow | None:
    """The row whose ``key`` value is bold in the paper table, or None."""
    best = [row for row in rows if key in row.best]
    if len(best) != 1:  # none that can be best, or a tie
        return None
    top = best[0]
    others = [row for row in rows if row is not top and row.stats[key].n > 0 and not row.unsound]
    return top if others and all(beats(top, other, key) for other in others) else None
