"""The PNG leaderboard: a bar chart of the sort column, t2a R@1, per pooling and extractor."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from atr_bench.files.atomic import atomic_write
from atr_bench.report.aggregate import BoardRow
from atr_bench.report.columns import HASH_CHARS
from atr_bench.report.palette import extractor_markers, pooling_colours

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Group = tuple[float, str]
"""The middle of an extractor's bars, and its name."""


def save_plot(path: Path, title: str, rows: Sequence[BoardRow], header: str) -> Path:
    """Bar chart of t2a R@1 (mean, std error bars) per pooling, grouped by extractor."""
    fig = bar_figure(title, rows, header)
    meta = {"Title": f"atr-bench leaderboard {title}", "Description": header}
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=150, metadata=meta))


def bar_figure(title: str, rows: Sequence[BoardRow], header: str) -> Figure:
    """The chart ``save_plot`` writes: one bar per row in its pooling's colour (``palette``,
    as in the board's curves) topped by its extractor's marker, an error bar of the seeds' std
    where there are two or more, hatched and without one where there is a single seed; a
    dotted line at chance."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(6.0, 0.55 * len(rows) + 2), 4.5), layout="constrained")
    ax = fig.add_subplot()
    ticks, labels, groups = _bars(ax, rows)
    chance = {row.chance["t2a_R1"] for row in rows if "t2a_R1" in row.chance}
    for level in sorted(chance):
        ax.axhline(level, color="0.4", linestyle=":", linewidth=1)
    if chance:
        ax.annotate("chance", (1.0, max(chance)), xycoords=("axes fraction", "data"), fontsize=7)
    ax.set_xticks(ticks, labels, rotation=45, ha="right", fontsize=8)
    for mid, name in groups:
        ax.annotate(
            name,
            (mid, 1.0),
            xycoords=("data", "axes fraction"),
            ha="center",
            va="bottom",
            fontsize=9,
            fontweight="bold",
        )
    ax.set_ylabel("t2a R@1 (%), mean ± std over seeds\n(hatched: 1 seed, no spread)")
    ax.set_title(f"{title}\ntext-to-audio R@1 per pooling, grouped by extractor", pad=18)
    fig.supxlabel(header, fontsize=5, wrap=True)
    return fig


def _bars(ax: Axes, rows: Sequence[BoardRow]) -> tuple[list[float], list[str], list[Group]]:
    """Draw the bars, grouped by extractor; their x positions and labels (a pooling's name,
    with the hash prefix where the pooling has several rows), and each group's middle."""
    extractors = list(dict.fromkeys(sorted(row.keys["extractor"] for row in rows)))
    colors = pooling_colours(row.keys["pooling"] for row in rows)
    markers = extractor_markers(extractors)
    x, ticks, labels, groups = 0.0, [], [], []
    for extractor in extractors:
        members = sorted(
            (r for r in rows if r.keys["extractor"] == extractor),
            key=lambda r: (r.keys["pooling"], -r.stats["t2a_R1"].mean),
        )
        start = x
        counts = Counter(row.keys["pooling"] for row in members)
        for row in members:
            stat = row.stats["t2a_R1"]
            single = stat.n < 2  # no spread measured: no error bar, hatched
            ax.bar(
                x,
                stat.mean,
                yerr=None if single else stat.std,
                color=colors[row.keys["pooling"]],
                hatch="//" if single else None,
                edgecolor="white" if single else None,
                capsize=3,
            )
            ax.plot(x, stat.mean, marker=markers[extractor], color="black", markersize=4)
            label = row.keys["pooling"]
            if counts[label] > 1:
                label += f"\n{row.keys['protocol_hash'][:HASH_CHARS]}"
            ticks.append(x)
            labels.append(label)
            x += 1
        groups.append(((start + x - 1) / 2, extractor))
        x += 0.8
    return ticks, labels, groups
