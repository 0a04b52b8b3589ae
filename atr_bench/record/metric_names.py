"""The retrieval metrics a run records, defined once: key, display label, and kind.

Percent metrics (recalls, mAP@10, geo) lie in 0..100, higher is better; rank metrics (median and
mean rank) are 1-based, lower is better. ``run/metrics.py`` computes them under these keys, run
records store them, and reports label and rank them from here.
"""

from __future__ import annotations

from dataclasses import dataclass

DIRECTIONS = ("t2a", "a2t")
"""Text-to-audio (captions query clips) and audio-to-text (clips query captions)."""


@dataclass(frozen=True)
class Metric:
    """One retrieval metric: its record key, its label in tables, and whether it is a rank."""

    key: str
    label: str
    rank: bool = False

    @property
    def lower_is_better(self) -> bool:
        return self.rank


METRICS = (
    Metric("R1", "R@1"),
    Metric("R5", "R@5"),
    Metric("R10", "R@10"),
    Metric("R50", "R@50"),
    Metric("MedR", "MedR", rank=True),
    Metric("MeanR", "MeanR", rank=True),
    Metric("mAP10", "mAP@10"),
    Metric("geo", "geo"),
)
METRIC_KEYS = tuple(m.key for m in METRICS)
BY_KEY = {m.key: m for m in METRICS}
PERCENT_METRICS = tuple(m.key for m in METRICS if not m.rank)
RANK_METRICS = tuple(m.key for m in METRICS if m.rank)
