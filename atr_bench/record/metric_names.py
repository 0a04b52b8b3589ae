"""The retrieval metrics a run records, defined once: key, display label, kind and definition.

Percent metrics (recalls, mAP@10, geo, nDCG@10, MRR@10) lie in 0..100, higher is better; rank
metrics (median and mean rank) are 1-based, lower is better. ``run/metrics.py`` computes them
under these keys, run records store them with their definitions, and reports label and rank
them from here.

Papers and tools define retrieval metrics differently, mostly in how tied scores count, so a
metric names its tie rule (``TIE_RULES``) and every definition but atr-bench's own says which in
its label (``R@1 (ties=hits)``). ``METRICS`` are atr-bench's own, in every record;
``DEFINITION_METRICS`` the others, in records from schema 4 on (README, "Metric definitions").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

DIRECTIONS = ("t2a", "a2t")
"""Text-to-audio (captions query clips) and audio-to-text (clips query captions)."""

AVERAGED, HITS, RELEASED, EXPECTED = "averaged", "hits", "released", "expected"
TIE_RULES = {
    AVERAGED: "ties averaged: tied items share the mean of their 1-based positions",
    HITS: (
        "ties=hits: a relevant item tied with others takes the first of their positions (the "
        "released code's break_ties='optimistically')"
    ),
    RELEASED: (
        "the released code's default: ties averaged, and a rank of k + 0.5 counts within k "
        "(its 0-based averaged position < k)"
    ),
    EXPECTED: "ties by expectation: the mean over every order of the tied items",
}
"""How each definition counts items with equal scores, in words (records store them)."""


@dataclass(frozen=True)
class Metric:
    """One retrieval metric: its record key, its label in tables, whether it is a rank, what
    it measures and how it counts ties."""

    key: str
    label: str
    what: str
    rank: bool = False
    ties: str = AVERAGED

    @property
    def lower_is_better(self) -> bool:
        return self.rank

    @property
    def recall_at(self) -> int | None:
        """k of an R@k metric (of any tie rule), else None."""
        head = self.key.partition("_")[0]
        return int(head[1:]) if head[0] == "R" and head[1:].isdigit() else None

    @property
    def definition(self) -> str:
        """The metric in one line, as a record states it."""
        return f"{self.label}: {self.what}; {TIE_RULES[self.ties]}"


def _recall(k: int, ties: str = AVERAGED) -> Metric:
    suffix = {AVERAGED: "", HITS: "_hits", RELEASED: "_released"}[ties]
    tag = {AVERAGED: "", HITS: " (ties=hits)", RELEASED: " (released code)"}[ties]
    what = f"percent of queries with a relevant item within the first {k}"
    return Metric(f"R{k}{suffix}", f"R@{k}{tag}", what, ties=ties)


BEST_RANK = "the rank of the query's best-ranked relevant item"
METRICS = (
    *(_recall(k) for k in (1, 5, 10, 50)),
    Metric("MedR", "MedR", f"median over queries of {BEST_RANK}", rank=True),
    Metric("MeanR", "MeanR", f"mean over queries of {BEST_RANK}", rank=True),
    Metric(
        "mAP10",
        "mAP@10",
        "DCASE 2022 task 6b: per query, i / rank summed over its i-th relevant items within "
        "the first 10, divided by its number of relevant items; mean over queries",
    ),
    Metric("geo", "geo", "geometric mean of R@1, R@5 and R@10"),
)
"""atr-bench's own metrics, ties averaged, in every record."""
METRIC_KEYS = tuple(m.key for m in METRICS)

DEFINITION_METRICS = (
    *(_recall(k, HITS) for k in (1, 5, 10, 50)),
    *(_recall(k, RELEASED) for k in (5, 10, 50)),  # its R@1 is always atr-bench's
    Metric(
        "nDCG10",
        "nDCG@10",
        "MTEB's, binary relevance: per query, 1 / log2(1 + rank) summed over its relevant "
        "items within the first 10, divided by the same sum for its ideal order",
        ties=EXPECTED,
    ),
    Metric(
        "MRR10",
        "MRR@10",
        "MTEB's: per query, 1 / rank of its first relevant item when within the first 10, else 0",
        ties=EXPECTED,
    ),
)
"""Other papers' and tools' definitions, in records from schema 4 on."""
DEFINITION_KEYS = tuple(m.key for m in DEFINITION_METRICS)

BY_KEY = {m.key: m for m in (*METRICS, *DEFINITION_METRICS)}
PERCENT_METRICS = tuple(key for key, m in BY_KEY.items() if not m.rank)
RANK_METRICS = tuple(key for key, m in BY_KEY.items() if m.rank)


def _recall_families() -> dict[str, tuple[str, ...]]:
    families: dict[str, list[Metric]] = {}
    for metric in BY_KEY.values():
        if metric.recall_at is not None:
            families.setdefault(metric.ties, []).append(metric)
    return {
        ties: tuple(m.key for m in sorted(ms, key=lambda m: m.recall_at or 0))
        for ties, ms in families.items()
    }


RECALL_FAMILIES = _recall_families()
"""Per tie rule, its R@k keys by rising k (a query within k is within every larger k)."""


def definitions(keys: Iterable[str]) -> dict[str, str]:
    """Each metric key's one-line definition, as a record states them."""
    return {key: BY_KEY[key].definition for key in keys}
