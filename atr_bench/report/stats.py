"""Mean ± sample std over seeds: the one statistic and the one formatter of every table."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DIGITS = 1
"""Decimals shown for every metric (and compared when marking the best)."""
DASH = "–"
"""A value not measured (or not published)."""


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single seed)."""
    arr = np.asarray(values, dtype=float)
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def format_mean_std(
    mean: float, std: float | None = None, pm: str = " ± ", dash: str = DASH
) -> str:
    """``mean ± std`` to ``DIGITS`` decimals; the mean alone without a std, ``dash`` without a
    mean (None or NaN stand for missing)."""
    if mean is None or math.isnan(mean):
        return dash
    if std is None or math.isnan(std):
        return f"{mean:.{DIGITS}f}"
    return f"{mean:.{DIGITS}f}{pm}{std:.{DIGITS}f}"


@dataclass(frozen=True)
class Stat:
    """Mean and sample std of one metric over ``n`` seeds (``n == 0``: not measured)."""

    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat:
        if not values:
            return cls(math.nan, math.nan, 0)
        mean, std = mean_std(values)
        return cls(mean, std, len(values))

    def text(self, pm: str = " ± ", dash: str = DASH) -> str:
        """The cell: a dash when not measured, no ``± std`` for a single seed."""
        if self.n == 0:
            return dash
        return format_mean_std(self.mean, self.std if self.n > 1 else None, pm, dash)

    @property
    def shown(self) -> float:
        """The mean as displayed (rounded to ``DIGITS``), which best marking compares."""
        return round(self.mean, DIGITS)
