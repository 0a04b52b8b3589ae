"""Chance levels: what a model that ranks at random scores, so a board never calls a number at
chance the best.

R@k under a random ranking of a test split of ``n`` clips: t2a, each caption's one clip lands
in the top k with probability ``k / n``; a2t, a clip with ``c`` of the split's ``m`` captions
has none of them in the top k with probability ``C(m - c, k) / C(m, k)``, averaged over the
clips. Order accuracy: a caption prefers its own clip to the order-swapped twin half the time.
The other definitions' R@k (ties=hits, the released code's) have the same chance levels, as a
random ranking has no ties; nDCG@10 and MRR@10 of a random ranking are theirs for a query
whose items all tie (they average over every order of tied items).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from atr_bench.record.metric_names import BY_KEY
from atr_bench.report.columns import BOARD_DEFINITIONS, BOARD_METRICS, ORDER_COLUMN
from atr_bench.report.stats import Stat
from atr_bench.run.definition_scores import (
    Relevant,
    expected_ndcg,
    expected_reciprocal_rank,
)

ORDER_CHANCE = 50.0
"""Order accuracy of a random model, in percent."""
RECALLS = tuple(int(m[1:]) for m in BOARD_METRICS if m[0] == "R" and m[1:].isdigit())


def _none_in_top(k: int, relevant: int, total: int) -> float:
    """Probability that none of ``relevant`` of ``total`` items lands in a random top ``k``."""
    if k >= total:
        return 0.0
    return math.prod((total - relevant - i) / (total - i) for i in range(k))


def chance_levels(captions_per_clip: Sequence[int], definitions: bool = False) -> dict[str, float]:
    """Percent a random ranking scores on each board column where chance matters (R@k both
    ways, order accuracy, and with ``definitions`` the other definitions' columns), for a test
    split whose clips hold these numbers of captions (all but order accuracy left out when
    none are given)."""
    n, m = len(captions_per_clip), sum(captions_per_clip)
    out = {}
    for k in RECALLS if n else ():
        out[f"t2a_R{k}"] = 100.0 * min(k, n) / n
        misses = [_none_in_top(k, c, m) for c in captions_per_clip]
        out[f"a2t_R{k}"] = 100.0 * (1 - sum(misses) / n)
    if definitions and n:
        out |= _definition_chance(captions_per_clip, out)
    out[ORDER_COLUMN.key] = ORDER_CHANCE
    return out


def _definition_chance(captions_per_clip: Sequence[int], own: dict[str, float]) -> dict[str, float]:
    """Chance of the other definitions' board columns: R@k as atr-bench's (``own``), nDCG@10
    and MRR@10 of queries whose items all tie."""
    counts = np.asarray(captions_per_clip)
    n, m = len(counts), int(counts.sum())
    all_tied = {  # every relevant item: nothing above it, every item of its query tied with it
        "t2a": Relevant(np.zeros(1, dtype=np.int64), np.array([(n + 1) / 2]), np.array([n]), 1),
        "a2t": Relevant(np.repeat(np.arange(n), counts), np.full(m, (m + 1) / 2), np.full(m, m), n),
    }
    out = {}
    for direction, items in all_tied.items():
        for key in BOARD_DEFINITIONS:
            k = BY_KEY[key].recall_at
            if k is not None:
                out[f"{direction}_{key}"] = own[f"{direction}_R{k}"]
        out[f"{direction}_nDCG10"] = 100 * float(expected_ndcg(items).mean())
        out[f"{direction}_MRR10"] = 100 * float(expected_reciprocal_rank(items).mean())
    return out


def above_chance(stat: Stat, chance: float, interval: tuple[float, float] | None) -> bool:
    """Whether a row's value is clearly above chance: its interval's low end when it has one,
    else the one-sided 97.5 % t bound of its seeds' mean (a single seed never is)."""
    if interval is not None:
        return interval[0] > chance
    if stat.n < 2:
        return False
    bound = stat.mean - stats.t.ppf(0.975, stat.n - 1) * stat.std / math.sqrt(stat.n)
    return bool(bound > chance)


def captions_from_sizes(sizes: Mapping[str, Any] | None, split: str) -> list[int]:
    """How many captions each clip of a record's ``split`` held, spread as evenly as its
    ``sizes`` (clips and captions) allow; empty when the record does not say them."""
    counts = (sizes or {}).get(split)
    if not isinstance(counts, dict):
        return []
    clips, captions = counts.get("clips"), counts.get("captions")
    if not (isinstance(clips, int) and isinstance(captions, int) and 0 < clips <= captions):
        return []
    each, extra = divmod(captions, clips)
    return [each + 1] * extra + [each] * (clips - extra)


def split_chance(sizes: Iterable[Mapping[str, Any] | None], split: str) -> dict[str, set[float]]:
    """Per board column, the chance levels of ``split`` among these records' sizes (one level
    when they share the split)."""
    out: dict[str, set[float]] = {}
    for each in sizes:
        captions = captions_from_sizes(each, split)
        for key, level in chance_levels(captions).items() if captions else ():
            out.setdefault(key, set()).add(level)
    return out
