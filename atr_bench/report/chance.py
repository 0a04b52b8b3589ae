"""Chance levels: what a model that ranks at random scores, so a board never calls a number at
chance the best.

R@k under a random ranking of a test split of ``n`` clips: t2a, each caption's one clip lands
in the top k with probability ``k / n``; a2t, a clip with ``c`` of the split's ``m`` captions
has none of them in the top k with probability ``C(m - c, k) / C(m, k)``, averaged over the
clips. Order accuracy: a caption prefers its own clip to the order-swapped twin half the time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from scipy import stats

from atr_bench.report.columns import BOARD_METRICS, ORDER_COLUMN
from atr_bench.report.stats import Stat

ORDER_CHANCE = 50.0
"""Order accuracy of a random model, in percent."""
RECALLS = tuple(int(m[1:]) for m in BOARD_METRICS if m[0] == "R" and m[1:].isdigit())


def _none_in_top(k: int, relevant: int, total: int) -> float:
    """Probability that none of ``relevant`` of ``total`` items lands in a random top ``k``."""
    if k >= total:
        return 0.0
    return math.prod((total - relevant - i) / (total - i) for i in range(k))


def chance_levels(captions_per_clip: Sequence[int]) -> dict[str, float]:
    """Percent a random ranking scores on each board column where chance matters (R@k both
    ways, order accuracy), for a test split whose clips hold these numbers of captions (R@k
    left out when none are given)."""
    n, m = len(captions_per_clip), sum(captions_per_clip)
    out = {}
    for k in RECALLS if n else ():
        out[f"t2a_R{k}"] = 100.0 * min(k, n) / n
        misses = [_none_in_top(k, c, m) for c in captions_per_clip]
        out[f"a2t_R{k}"] = 100.0 * (1 - sum(misses) / n)
    out[ORDER_COLUMN.key] = ORDER_CHANCE
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
