"""Validation curves of leaderboard rows: per epoch, the mean over a row's seeds with a band of
one standard deviation (the leaderboard's mean ± std), one panel per metric, as a PNG drawn
from the records' ``val_curve`` (a seed's curve: one entry per epoch, ``{"epoch", "loss",
"val": {direction: {metric: value}}}``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atr_bench.files.atomic import atomic_write
from atr_bench.record.metric_names import RANK_METRICS
from atr_bench.report.stats import mean_std

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CURVE_METRICS = (("t2a", "geo"), ("t2a", "R1"), ("a2t", "R1"))
"""The panels drawn by default: the model-selection score, then R@1 of each direction."""

PANEL_PX = (480, 400)
"""Width and height of one panel in pixels."""

LEGEND_LINE_PX = 24
LEGEND_COLUMNS = 3
DPI = 100


@dataclass(frozen=True)
class Curve:
    """A row's curve of one metric: the epochs some seed reached, the mean over the seeds
    that reached each, the sample standard deviation (0 for one seed), and the seed count."""

    epochs: tuple[int, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    seeds: int


SeedCurve = Sequence[Mapping[str, Any]]
"""One seed's ``val_curve``."""


def _points(curve: SeedCurve, direction: str, metric: str) -> dict[int, float]:
    """``epoch -> value`` of one seed's curve, empty when it is unusable (older records, or a
    curve without that metric)."""
    try:
        points = {int(e["epoch"]): float(e["val"][direction][metric]) for e in curve}
    except (KeyError, TypeError, ValueError):
        return {}
    return {epoch: v for epoch, v in points.items() if math.isfinite(v)}


def row_curve(seed_curves: Sequence[SeedCurve], direction: str, metric: str) -> Curve:
    """The curve of ``direction``'s ``metric`` over the seeds of one row."""
    by_epoch: dict[int, list[float]] = {}
    seeds = 0
    for seed_curve in seed_curves:
        points = _points(seed_curve, direction, metric)
        seeds += bool(points)
        for epoch, value in points.items():
            by_epoch.setdefault(epoch, []).append(value)
    epochs = tuple(sorted(by_epoch))
    stats = [mean_std(by_epoch[e]) for e in epochs]
    return Curve(epochs, tuple(m for m, _ in stats), tuple(s for _, s in stats), seeds)


def figure_px(rows: int, panels: int) -> tuple[int, int]:
    """Width and height in pixels of the PNG of ``rows`` rows in ``panels`` panels (the
    legend below them takes a line per ``LEGEND_COLUMNS`` rows)."""
    lines = math.ceil(rows / LEGEND_COLUMNS)
    return PANEL_PX[0] * panels, PANEL_PX[1] + LEGEND_LINE_PX * lines


def draw_validation_curves(
    rows: Mapping[str, Sequence[SeedCurve]],
    path: Path,
    metrics: Sequence[tuple[str, str]] = CURVE_METRICS,
    title: str = "",
) -> Path | None:
    """Draw each row's (name -> its seeds' curves) validation curves into the PNG ``path``,
    written atomically; None, and nothing written, when no seed has a curve."""
    fig = curves_figure(rows, metrics, title)
    if fig is None:
        return None
    meta = {"Title": f"atr-bench validation curves {title}".strip()}
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=DPI, metadata=meta))


def curves_figure(
    rows: Mapping[str, Sequence[SeedCurve]],
    metrics: Sequence[tuple[str, str]] = CURVE_METRICS,
    title: str = "",
) -> Figure | None:
    """The figure ``draw_validation_curves`` writes: one panel per metric, in each a line of
    each row's mean per epoch (labelled with its seed count) over a band of one std; None when
    no seed has a curve."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    curves = {
        name: [row_curve(seed_curves, d, m) for d, m in metrics]
        for name, seed_curves in rows.items()
    }
    curves = {name: c for name, c in curves.items() if any(curve.epochs for curve in c)}
    if not curves:
        return None
    width, height = figure_px(len(curves), len(metrics))
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for i, (name, row) in enumerate(curves.items()):
        color = f"C{i % 10}"
        for ax, curve in zip(axes, row, strict=True):
            low = [m - s for m, s in zip(curve.mean, curve.std, strict=True)]
            high = [m + s for m, s in zip(curve.mean, curve.std, strict=True)]
            ax.fill_between(curve.epochs, low, high, color=color, alpha=0.2, linewidth=0)
            label = f"{name} ({curve.seeds} seed{'s' * (curve.seeds != 1)})"
            ax.plot(curve.epochs, curve.mean, color=color, marker=".", label=label)
    for ax, (direction, metric) in zip(axes, metrics, strict=True):
        unit = "rank" if metric in RANK_METRICS else "%"
        ax.set_title(f"validation {direction} {metric}", fontsize=10)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(f"{direction} {metric} ({unit})")
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=LEGEND_COLUMNS, fontsize=8)
    if title:
        fig.suptitle(f"{title}: mean ± std over seeds", fontsize=11)
    return fig
