"""Validation curves of leaderboard rows: per epoch, the mean over a row's seeds with a band of
one standard deviation (the leaderboard's mean ± std), one panel per metric, as a PNG drawn
from the records' ``val_curve`` (a seed's curve: one entry per epoch, ``{"epoch", "loss",
"val": {direction: {metric: value}}}``)."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atr_bench.files.atomic import atomic_write
from atr_bench.record.metric_names import RANK_METRICS
from atr_bench.report.palette import COLOURS, Look
from atr_bench.report.stats import mean_std

if TYPE_CHECKING:
    from matplotlib.axes import Axes
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


def drawn_curves(
    rows: Mapping[str, Sequence[SeedCurve]], metrics: Sequence[tuple[str, str]] = CURVE_METRICS
) -> dict[str, list[Curve]]:
    """Per row with a curve of some metric (name -> its seeds' curves), its curve of each
    metric: what a curves figure draws (empty: no figure)."""
    curves = {
        name: [row_curve(seed_curves, d, m) for d, m in metrics]
        for name, seed_curves in rows.items()
    }
    return {name: c for name, c in curves.items() if any(curve.epochs for curve in c)}


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
    looks: Mapping[str, Look] | None = None,
    chance: Mapping[str, Collection[float]] | None = None,
) -> Path | None:
    """Draw each row's (name -> its seeds' curves) validation curves into the PNG ``path``,
    written atomically; None, and nothing written, when no seed has a curve."""
    fig = curves_figure(rows, metrics, title, looks, chance)
    if fig is None:
        return None
    meta = {"Title": f"atr-bench validation curves {title}".strip()}
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=DPI, metadata=meta))


def curves_figure(
    rows: Mapping[str, Sequence[SeedCurve]],
    metrics: Sequence[tuple[str, str]] = CURVE_METRICS,
    title: str = "",
    looks: Mapping[str, Look] | None = None,
    chance: Mapping[str, Collection[float]] | None = None,
) -> Figure | None:
    """The figure ``draw_validation_curves`` writes: one panel per metric, in each a line of
    each row's mean per epoch (labelled with its seed count) over a band of one std, drawn
    with the row's ``looks`` (``palette.looks``: the colour of its pooling and the marker of
    its extractor, as in the board's bar chart; rows without one take colours in turn), and a
    dotted line at each ``chance`` level of the panel's metric (``direction_metric`` ->
    levels on the validation split); None when no seed has a curve."""
    from matplotlib.figure import Figure

    curves = drawn_curves(rows, metrics)
    if not curves:
        return None
    width, height = figure_px(len(curves), len(metrics))
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for i, (name, row) in enumerate(curves.items()):
        look = (looks or {}).get(name) or Look(COLOURS[i % len(COLOURS)], ".")
        for ax, curve in zip(axes, row, strict=True):
            low = [m - s for m, s in zip(curve.mean, curve.std, strict=True)]
            high = [m + s for m, s in zip(curve.mean, curve.std, strict=True)]
            ax.fill_between(curve.epochs, low, high, color=look.colour, alpha=0.2, linewidth=0)
            label = f"{name} ({curve.seeds} seed{'s' * (curve.seeds != 1)})"
            ax.plot(
                curve.epochs,
                curve.mean,
                color=look.colour,
                marker=look.marker,
                linestyle=look.linestyle,
                markersize=4,
                label=label,
            )
    for ax, (direction, metric) in zip(axes, metrics, strict=True):
        _panel(ax, direction, metric, sorted((chance or {}).get(f"{direction}_{metric}", ())))
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=LEGEND_COLUMNS, fontsize=8)
    if title:
        fig.suptitle(f"{title}: mean ± std over seeds", fontsize=11)
    return fig


def _panel(ax: Axes, direction: str, metric: str, chance: Sequence[float]) -> None:
    """Title, axes and chance lines of one metric's panel."""
    from matplotlib.ticker import MaxNLocator

    unit = "rank" if metric in RANK_METRICS else "%"
    ax.set_title(f"validation {direction} {metric}", fontsize=10)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(f"{direction} {metric} ({unit})")
    ax.grid(alpha=0.3)
    for level in chance:
        ax.axhline(level, color="0.4", linestyle=":", linewidth=1)
    if chance:
        ax.annotate("chance", (1.0, max(chance)), xycoords=("axes fraction", "data"), fontsize=7)
