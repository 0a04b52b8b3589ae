"""Per-query scores under the metric definitions of other papers and tools (README, "Metric
definitions"): the ties=hits R@k, the released code's R@k, and MTEB's nDCG@10 and MRR@10.

A query's relevant items each hold a block of tied positions: ``greater`` items of the query
score strictly higher, ``tied`` (itself included) score the same, so the item is at one of the
positions ``greater + 1 .. greater + tied``. The tie-averaged rank atr-bench records is the
middle of that block; ties=hits takes its first position; nDCG@10 and MRR@10 take their
expected value over every order of the tied items, each order equally likely, which is what
a metric computed on one arbitrary order (MTEB's) gives on average and equals it without ties.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from atr_bench.record.metric_names import BY_KEY, DEFINITION_KEYS, EXPECTED, HITS, RELEASED
from atr_bench.record.ranks import QueryRanks

CUTOFF = 10
"""The depth of nDCG@10 and MRR@10."""


@dataclass(frozen=True)
class Relevant:
    """The relevant items of one direction's queries: ``query[r]`` is the query of item r,
    ``rank[r]`` its tie-averaged rank, ``tied[r]`` how many items share its score (None
    where the ranks file has no tie counts)."""

    query: np.ndarray
    rank: np.ndarray
    tied: np.ndarray | None
    n_queries: int

    @property
    def greater(self) -> np.ndarray:
        """Items of the query scored strictly higher: ``rank - (tied + 1) / 2``."""
        assert self.tied is not None
        return np.rint(self.rank - (self.tied + 1) / 2).astype(np.int64)


def relevant_items(ranks: QueryRanks) -> dict[str, Relevant]:
    """Both directions' relevant items: t2a, each caption's clip (one per query); a2t, each
    clip's captions."""
    n_captions = len(ranks.caption_clip)
    return {
        "t2a": Relevant(np.arange(n_captions), ranks.t2a, ranks.t2a_tied, n_captions),
        "a2t": Relevant(ranks.caption_clip, ranks.caption, ranks.caption_tied, ranks.n_clips),
    }


def definition_scores(ranks: QueryRanks) -> dict[str, dict[str, np.ndarray]]:
    """Per direction, each query's score (0..1) under every key of
    ``metric_names.DEFINITION_METRICS`` the ranks can give: the released code's R@k always,
    the others only where the ranks file holds tie counts (record schema 4 on). A metric is
    the mean of its scores over queries."""
    out = {}
    for direction, items in relevant_items(ranks).items():
        best = _query_min(items.rank, items)
        scores = {key: _recall(best, key) for key in DEFINITION_KEYS if _ties(key) == RELEASED}
        if items.tied is not None:
            first = _query_min(items.greater, items) + 1
            scores |= {key: _recall(first, key) for key in DEFINITION_KEYS if _ties(key) == HITS}
            scores["nDCG10"] = expected_ndcg(items)
            scores["MRR10"] = expected_reciprocal_rank(items)
        out[direction] = {key: scores[key] for key in DEFINITION_KEYS if key in scores}
    return out


def _ties(key: str) -> str:
    return BY_KEY[key].ties


def needs_tie_counts(key: str) -> bool:
    """Whether metric ``key`` needs the tie counts of ranks files (record schema 4 on)."""
    return _ties(key) in (HITS, EXPECTED)


def _recall(rank: np.ndarray, key: str) -> np.ndarray:
    """Hits at k of each query's rank: ``rank <= k`` for a first position (ties=hits), and
    for the released code's tie-averaged one its ``0-based rank < k``, i.e. ``rank < k + 1``."""
    k = BY_KEY[key].recall_at
    assert k is not None
    hit = rank <= k if _ties(key) == HITS else rank < k + 1
    return hit.astype(np.float64)


def _query_min(values: np.ndarray, items: Relevant) -> np.ndarray:
    """Per query, the smallest of its relevant items' ``values``."""
    out = np.full(items.n_queries, np.inf)
    np.minimum.at(out, items.query, values.astype(np.float64))
    return out


_DISCOUNT = np.concatenate([[0.0], np.cumsum(1 / np.log2(np.arange(2, CUTOFF + 2)))])
"""``_DISCOUNT[n]``: the summed discounts 1 / log2(1 + p) of positions p = 1..n (n <= 10)."""


def _discounts(positions: np.ndarray) -> np.ndarray:
    """Summed discounts of positions 1..``positions``, those past the cutoff adding nothing."""
    return _DISCOUNT[np.minimum(positions, CUTOFF)]


def expected_ndcg(items: Relevant) -> np.ndarray:
    """Per query, nDCG@10 with binary relevance, averaged over every order of tied items: an
    item's gain is the mean discount of its tied positions (scikit-learn's ``ndcg_score``
    treats ties so too), divided by the ideal DCG of the query's relevant items."""
    assert items.tied is not None
    greater = items.greater
    gain = (_discounts(greater + items.tied) - _discounts(greater)) / items.tied
    dcg = np.bincount(items.query, weights=gain, minlength=items.n_queries)
    ideal = _discounts(np.bincount(items.query, minlength=items.n_queries))
    return dcg / ideal


def expected_reciprocal_rank(items: Relevant) -> np.ndarray:
    """Per query, 1 / position of its first relevant item when within the first 10 (else 0),
    averaged over every order of tied items.

    The first relevant item lies in the query's best block of tied positions: ``greater``
    items above it, ``tied`` items in it, ``m`` of them relevant. In a random order of the
    block, the first ``j`` positions hold none of the ``m`` with probability
    ``prod_{i < j} (tied - m - i) / (tied - i)``, and the first relevant one is at block
    position ``j`` with the difference of two such terms.
    """
    assert items.tied is not None
    greater = items.greater
    top = _query_min(greater, items).astype(np.int64)
    in_top = greater == top[items.query]
    relevant = np.bincount(items.query, weights=in_top, minlength=items.n_queries)
    block = np.zeros(items.n_queries, dtype=np.int64)
    block[items.query[in_top]] = items.tied[in_top]  # every top item's block is the same
    i = np.arange(CUTOFF)[None, :]
    left = block[:, None] - i
    factor = np.where(left > 0, np.maximum(left - relevant[:, None], 0) / np.maximum(left, 1), 0)
    none_in = np.concatenate([np.ones((items.n_queries, 1)), np.cumprod(factor, axis=1)], axis=1)
    first_at = none_in[:, :-1] - none_in[:, 1:]  # [query, j - 1]: first relevant at block j
    position = top[:, None] + i + 1
    return (first_at * np.where(position <= CUTOFF, 1 / position, 0.0)).sum(axis=1)
