"""Intervals and paired tests over test queries, from the per-query ranks runs keep.

Every metric used here is a mean over queries of a per-query score (a hit at k, an average
precision, a rank), so a row's seeds are pooled by averaging each query's score over them: the
test queries are what is sampled, the seeds share them.

- Interval of a row's metric (``INTERVAL_METHODS``), 95 %, 10 000 resamples:
  ``seeds+queries`` (the default): a two-level percentile bootstrap: each resample draws the
  row's seeds with replacement and, independently, the test queries with replacement (the same
  queries for every drawn seed, as the seeds share them) and takes the mean over its seeds of
  the mean over its queries. It widens with the seeds' spread as well as with the queries';
  with one seed there is no spread to resample, so a single-seed row gets no interval.
  ``queries``: percentile bootstrap over the test queries of the seed-averaged scores
  (``scipy.stats.bootstrap``); it says how much the test set's sampling moves the number, not
  how much training does.
- Difference between two rows (``atr-bench compare``): per query, A's score minus B's over the
  same queries. Its interval is the same percentile bootstrap of the paired differences; its
  p-value is a paired permutation test (``scipy.stats.permutation_test``, A and B swapped per
  query, 10 000 resamples, two-sided). The permutation test is used for the p-value because it
  needs no assumption about the differences' distribution and is exact in the limit (identical
  rows give p = 1, a row that wins every query p near 0), while the bootstrap gives the
  interval of the size of the difference.

Both are seeded (``SEED``), so the same records give the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from atr_bench.errors import AtrBenchError
from atr_bench.record.metric_names import DEFINITION_KEYS, DIRECTIONS
from atr_bench.record.ranks import QueryRanks
from atr_bench.report.aggregate import BoardRow
from atr_bench.report.columns import BOARD_DEFINITIONS
from atr_bench.report.formats import INTERVAL_METHODS
from atr_bench.run.definition_scores import definition_scores, needs_tie_counts
from atr_bench.run.metrics import query_scores

CONFIDENCE = 0.95
RESAMPLES = 10_000
SEED = 0
BATCH = 500
"""Resamples evaluated at once (bounds memory on large test splits)."""
ALPHA = 1 - CONFIDENCE
INTERVAL_METRICS = ("t2a_R1", "t2a_R10")
"""Metrics shown with an interval by default (``--intervals`` chooses others)."""
COMPARED = ("R1", "R5", "R10", "mAP10", "MeanR")
"""Metrics ``compare`` tests, per direction (those that are a mean over queries), and then the
other definitions' (``columns.BOARD_DEFINITIONS``) where the ranks give them."""

METHODS = {
    "seeds+queries": (
        "95 % intervals: two-level percentile bootstrap over the row's seeds and the test "
        "queries (10 000 resamples, seed 0), so they widen with the seeds' spread; a row of one "
        "seed has none."
    ),
    "queries": (
        "95 % intervals: percentile bootstrap over the test queries only (10 000 resamples, "
        "seed 0), each query's score averaged over the row's seeds; they do not cover the "
        "spread between seeds."
    ),
}
"""How each interval method is stated under a board."""
NEAR_BEST = (
    "†: not significantly below the best t2a R@1 of the rows of two or more seeds (paired "
    "permutation test over the same queries, two-sided p >= 0.05; see `atr-bench compare`)."
)


def scores(ranks: QueryRanks, column: str) -> np.ndarray:
    """Each query's score under board column ``direction_metric`` (percent, or a rank)."""
    direction, _, metric = column.partition("_")
    if metric in DEFINITION_KEYS:
        if not has_scores([ranks], column):
            raise AtrBenchError(
                f"{column}: its per-query ranks file was written before record schema 4, "
                "without the tie counts it needs; run the seed again with --force"
            )
        return 100.0 * definition_scores(ranks)[direction][metric]
    rank, ap = query_scores(ranks)[direction]
    if metric == "mAP10":
        return 100 * ap
    if metric == "MeanR":
        return np.asarray(rank, dtype=float)
    if metric.startswith("R") and metric[1:].isdigit():
        return 100.0 * (rank <= int(metric[1:]))
    raise AtrBenchError(f"{metric}: not a mean over queries; choose from {', '.join(COMPARED)}")


def has_scores(seeds: Sequence[QueryRanks], column: str) -> bool:
    """Whether every seed's ranks give ``column``'s per-query scores: the ties=hits R@k,
    nDCG@10 and MRR@10 need tie counts, which ranks files hold from record schema 4 on."""
    metric = column.partition("_")[2]
    return not needs_tie_counts(metric) or all(r.has_ties for r in seeds)


def pooled(seeds: Sequence[QueryRanks], column: str) -> np.ndarray:
    """Each query's score averaged over seeds that ranked the same queries."""
    if any(not seeds[0].same_queries(r) for r in seeds[1:]):
        raise AtrBenchError("the seeds of a row ranked different test queries; rerun them")
    return np.mean([scores(r, column) for r in seeds], axis=0)


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def interval(values: np.ndarray) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of the mean of per-query ``values``."""
    result = stats.bootstrap(
        (values,),
        _mean,
        n_resamples=RESAMPLES,
        confidence_level=CONFIDENCE,
        method="percentile",
        batch=BATCH,
        rng=np.random.default_rng(SEED),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def seeds_and_queries_interval(values: np.ndarray) -> tuple[float, float]:
    """95 % two-level percentile-bootstrap interval of the mean of ``values[seed, query]``:
    seeds and queries resampled with replacement, independently (module docstring)."""
    n_seeds, n_queries = values.shape
    rng = np.random.default_rng(SEED)
    means = np.empty(RESAMPLES)
    for start in range(0, RESAMPLES, BATCH):
        size = min(BATCH, RESAMPLES - start)
        seed_weights = rng.multinomial(n_seeds, np.full(n_seeds, 1 / n_seeds), size) / n_seeds
        query_weights = rng.multinomial(n_queries, np.full(n_queries, 1 / n_queries), size)
        per_query = seed_weights @ values  # [size, n_queries]: each resample's seed mean
        means[start : start + size] = (per_query * query_weights).sum(axis=1) / n_queries
    low, high = np.percentile(means, [100 * ALPHA / 2, 100 * (1 - ALPHA / 2)])
    return float(low), float(high)


def row_interval(seeds: Sequence[QueryRanks], column: str, method: str) -> tuple[float, float]:
    """The interval of one row's ``column`` under ``method`` (``INTERVAL_METHODS``)."""
    if method == "queries":
        return interval(pooled(seeds, column))
    pooled(seeds, column)  # the same check that the seeds ranked the same queries
    return seeds_and_queries_interval(np.stack([scores(r, column) for r in seeds]))


@dataclass(frozen=True)
class Difference:
    """A minus B on one metric over the same queries: the difference, its interval, p."""

    a: float
    b: float
    difference: float
    low: float
    high: float
    p: float


def paired(a: np.ndarray, b: np.ndarray) -> Difference:
    """Paired difference of two per-query score arrays over the same queries."""
    if a.shape != b.shape:
        raise AtrBenchError("the two rows ranked different test queries; they cannot be paired")
    low, high = interval(a - b)
    test = stats.permutation_test(
        (a, b),
        lambda x, y, axis: np.mean(x, axis=axis) - np.mean(y, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=RESAMPLES,
        alternative="two-sided",
        batch=BATCH,
        rng=np.random.default_rng(SEED),
    )
    return Difference(
        float(a.mean()), float(b.mean()), float(a.mean() - b.mean()), low, high, float(test.pvalue)
    )


def check_intervals(columns: Sequence[str]) -> tuple[str, ...]:
    """``direction_metric`` names that can have an interval, or an error naming the flag."""
    allowed = [f"{d}_{m}" for d in DIRECTIONS for m in (*COMPARED, *BOARD_DEFINITIONS)]
    wrong = [c for c in columns if c not in allowed]
    if wrong:
        raise AtrBenchError(
            f"--intervals {','.join(wrong)}: no interval for it; choose from {','.join(allowed)}"
        )
    return tuple(dict.fromkeys(columns))


def check_method(method: str) -> str:
    """``method`` if it is one of ``INTERVAL_METHODS``, else an error naming the flag."""
    if method not in INTERVAL_METHODS:
        raise AtrBenchError(
            f"--interval-method {method}: choose from {', '.join(INTERVAL_METHODS)}"
        )
    return method


def mark_significance(
    rows: Sequence[BoardRow],
    columns: Sequence[str] = INTERVAL_METRICS,
    method: str = INTERVAL_METHODS[0],
) -> None:
    """Intervals of ``columns`` for rows whose every seed kept its ranks (under ``method``;
    ``seeds+queries`` needs two seeds or more; not of a column older ranks cannot give, see
    ``has_scores``), and the rows not significantly below the best
    t2a R@1 among the rows of two or more seeds (one seed says nothing of training's spread,
    so such a row is neither the reference nor marked)."""
    check_method(method)
    for row in rows:
        if row.ranks and (method == "queries" or len(row.ranks) > 1):
            row.intervals = {
                c: row_interval(row.ranks, c, method) for c in columns if has_scores(row.ranks, c)
            }
            row.interval_method = method
    candidates = [
        (row, row.ranks) for row in rows if row.ranks and len(row.ranks) > 1 and not row.unsound
    ]
    if not candidates:
        return
    best, best_ranks = max(candidates, key=lambda pair: pair[0].stats["t2a_R1"].mean)
    top = pooled(best_ranks, "t2a_R1")
    for row, ranks in candidates:
        if row is not best and best_ranks[0].same_queries(ranks[0]):
            row.near_best = paired(top, pooled(ranks, "t2a_R1")).p >= ALPHA
