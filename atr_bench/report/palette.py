"""One look per pooling and per extractor in every figure a board makes: a pooling keeps its
colour and an extractor its marker in the bar chart and in the curves (and the built-in ones
keep theirs from board to board), so a reader matches a bar to its curve by sight.

Colours are matplotlib's ``tab10`` and then ``tab20``'s lighter shades, as hex strings; the
built-in poolings and extractors hold fixed places, others take the free ones in name order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from atr_bench.report.aggregate import BoardRow

COLOURS = (
    "#1f77b4",  # blue
    "#ff7f0e",  # orange
    "#2ca02c",  # green
    "#d62728",  # red
    "#9467bd",  # purple
    "#8c564b",  # brown
    "#7f7f7f",  # grey
    "#e377c2",  # pink
    "#bcbd22",  # olive
    "#17becf",  # cyan
    "#aec7e8",
    "#ffbb78",
    "#98df8a",
    "#ff9896",
    "#c5b0d5",
    "#c49c94",
    "#f7b6d2",
    "#dbdb8d",
    "#9edae5",
)
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "*", "p")
LINESTYLES = ("-", "--", ":", "-.")
"""Told apart rows of one pooling and extractor (other settings or protocol hash)."""
POOLINGS = ("netrvlad", "netvlad", "mean", "max", "lstm", "transformer", "zeroshot")
"""The built-in poolings (and the zero-shot rows' column) in their colours' order."""
EXTRACTORS = (
    "lms",
    "panns_cnn14",
    "panns_cnn10",
    "vggish",
    "vggsound",
    "efficient_latent",
    "hf",
    "clap",
)
"""The built-in extractors in their markers' order."""


def _assign(names: Iterable[str], fixed: Sequence[str], choices: Sequence[str]) -> dict[str, str]:
    """Each name's choice: a fixed name its own place; the others, in sorted order, the
    places no fixed name holds, then those of fixed names absent here (cycling when there are
    more names than choices)."""
    wanted = sorted(set(names))
    out = {name: choices[fixed.index(name) % len(choices)] for name in wanted if name in fixed}
    spare = [*choices[len(fixed) :], *choices[: len(fixed)]]
    free = [c for c in spare if c not in out.values()] or list(choices)
    others = [name for name in wanted if name not in out]
    out.update({name: free[i % len(free)] for i, name in enumerate(others)})
    return out


def pooling_colours(poolings: Iterable[str]) -> dict[str, str]:
    """Pooling name -> colour, for the poolings of one board."""
    return _assign(poolings, POOLINGS, COLOURS)


def extractor_markers(extractors: Iterable[str]) -> dict[str, str]:
    """Extractor name -> marker, for the extractors of one board."""
    return _assign(extractors, EXTRACTORS, MARKERS)


@dataclass(frozen=True)
class Look:
    """How one board row is drawn."""

    colour: str
    marker: str
    linestyle: str = "-"


def row_looks(rows: Sequence[BoardRow]) -> dict[str, Look]:
    """Row name -> its look, for one board's rows: the colour of its pooling and the marker of
    its extractor (as the bar chart draws them); rows of one extractor and pooling differ in
    line style."""
    colours = pooling_colours(row.keys["pooling"] for row in rows)
    markers = extractor_markers(row.keys["extractor"] for row in rows)
    seen: dict[tuple[str, str], int] = {}
    out = {}
    for row in rows:
        key = (row.keys["extractor"], row.keys["pooling"])
        n = seen[key] = seen.get(key, -1) + 1
        out[row.name] = Look(colours[key[1]], markers[key[0]], LINESTYLES[n % len(LINESTYLES)])
    return out
