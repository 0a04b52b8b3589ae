"""The figures of one board in one look: a pooling's colour and an extractor's marker are the
same in the bar chart and in the curves (read back from the figures and from the PNG files),
chance lines where chance means something, and one hash prefix in tables and figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.colors import to_hex, to_rgb
from PIL import Image

from atr_bench.files.atomic import write_json
from atr_bench.record.results import read_records
from atr_bench.record.run_record import SCHEMA_VERSION
from atr_bench.report.aggregate import aggregate
from atr_bench.report.chance import chance_levels, split_chance
from atr_bench.report.columns import HASH_CHARS
from atr_bench.report.curves import curves_figure
from atr_bench.report.leaderboard import build_leaderboards
from atr_bench.report.palette import row_looks
from atr_bench.report.plot import bar_figure

SIZES = {"val": {"clips": 20, "captions": 100}, "test": {"clips": 25, "captions": 125}}


def _metrics(r1: float) -> dict[str, float]:
    return {"R1": r1, "R5": r1 + 10, "R10": r1 + 20, "mAP10": r1, "MedR": 5.0, "geo": r1 + 5}


def _record(extractor: str, pooling: str, run_hash: str, seed: int, r1: float) -> dict[str, Any]:
    curve = [
        {"epoch": e, "loss": 1.0, "val": {"t2a": _metrics(r1 * e / 3), "a2t": _metrics(r1)}}
        for e in (1, 2, 3)
    ]
    return {
        "schema": SCHEMA_VERSION,
        "run_id": f"synthcaps-{extractor}-{pooling}-{run_hash}-s{seed}",
        "created": f"2026-01-01T00:00:0{seed}+00:00",
        "dataset": "synthcaps",
        "extractor": extractor,
        "pooling": pooling,
        "text_encoder": "word2vec",
        "seed": seed,
        "protocol": {"name": "lou2022", "version": 1},
        "protocol_hash": run_hash,
        "device": "cpu (x86_64, 1 threads)",
        "sizes": SIZES,
        "val_curve": curve,
        "test": {"t2a": _metrics(r1 + seed), "a2t": _metrics(r1)},
    }


ROWS = [  # extractor, pooling, run hash, t2a R@1: max and mean lead, so neither is drawn first
    ("lms", "max", "aaaaaaaa1111", 40.0),
    ("lms", "mean", "bbbbbbbb2222", 35.0),
    ("vggish", "max", "cccccccc3333", 30.0),
    ("lms", "max", "dddddddd4444", 20.0),  # lms/max again, another hash
    ("vggish", "netrvlad", "eeeeeeee5555", 10.0),
]


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    runs = tmp_path / "runs"
    for extractor, pooling, run_hash, r1 in ROWS:
        for seed in (0, 1):
            record = _record(extractor, pooling, run_hash, seed, r1)
            write_json(runs / f"{record['run_id']}.json", record)
    return runs


def _bars(figure) -> dict[tuple[str, str], str]:
    """(extractor, tick label) -> the bar's colour; extractors from the group labels, in x
    order."""
    from matplotlib.container import BarContainer

    (ax,) = figure.axes
    bars = [c.patches[0] for c in ax.containers if isinstance(c, BarContainer)]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    groups = [text.get_text() for text in ax.texts if text.get_text() not in ("chance",)]
    xs = [bar.get_x() + bar.get_width() / 2 for bar in bars]
    out = {}
    group, previous = 0, None
    for x, bar, tick in zip(xs, bars, ticks, strict=True):
        if previous is not None and x - previous > 1.5:  # the gap between extractors
            group += 1
        out[(groups[group], tick)] = to_hex(bar.get_facecolor())
        previous = x
    return out


def test_a_pooling_has_one_colour_and_an_extractor_one_marker_in_every_figure(runs) -> None:
    records, _ = read_records(runs)
    rows = aggregate(records)
    bars = _bars(bar_figure("t", rows, "h"))
    curves = curves_figure({row.name: row.val_curves for row in rows}, looks=row_looks(rows))
    assert curves is not None
    lines = {line.get_label(): line for line in curves.axes[0].get_lines()}
    colour_of: dict[str, set[str]] = {}
    marker_of: dict[str, set[str]] = {}
    for row in rows:
        extractor, pooling = row.keys["extractor"], row.keys["pooling"]
        line = lines[f"{row.name} (2 seeds)"]
        colour_of.setdefault(pooling, set()).add(to_hex(line.get_color()))
        marker_of.setdefault(extractor, set()).add(line.get_marker())
        tick = next(t for (e, t), _ in bars.items() if e == extractor and t.startswith(pooling))
        colour_of[pooling].add(bars[(extractor, tick)])
    assert all(len(colours) == 1 for colours in colour_of.values()), colour_of
    assert len({next(iter(c)) for c in colour_of.values()}) == len(colour_of)  # one each
    assert all(len(markers) == 1 for markers in marker_of.values()), marker_of
    assert marker_of["lms"] != marker_of["vggish"]
    (ax,) = bar_figure("t", rows, "h").axes
    bar_markers = {line.get_marker() for line in ax.get_lines()} - {"None", "_"}  # not caps
    assert bar_markers == {"o", "D"}  # lms, vggish: the curves' markers
    assert set().union(*marker_of.values()) == bar_markers
    twins = [lines[f"{row.name} (2 seeds)"] for row in rows if row.keys["pooling"] == "max"]
    styles = {(to_hex(t.get_color()), t.get_marker(), t.get_linestyle()) for t in twins}
    assert len(styles) == 3  # lms/max twice (two line styles), vggish/max


def test_the_curves_files_colours_are_the_bar_charts(runs, tmp_path: Path) -> None:
    """From the PNG files the leaderboard writes: each pooling's colour is in both (its bars
    are filled with it, its curve's markers too), and the colours of a palette by row order
    (blue, orange: what the first rows would get) are in neither."""
    out = tmp_path / "boards"
    report = build_leaderboards(runs, out, formats=["png"], command="x")
    (stem,) = report.boards
    assert report.files[stem] == (out / f"{stem}.png", out / f"{stem}-curves.png")
    rows = aggregate(read_records(runs)[0])
    colours = {to_hex(look.colour) for look in row_looks(rows).values()}
    assert "#1f77b4" in colours  # netrvlad keeps the built-in blue, whatever its place

    def pixels(path: Path) -> set[tuple[int, int, int]]:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB")).reshape(-1, 3)
        return {tuple(int(v) for v in p) for p in np.unique(rgb, axis=0)}

    for path in report.files[stem]:
        found = pixels(path)
        for colour in colours:
            assert tuple(round(255 * v) for v in to_rgb(colour)) in found, (path.name, colour)
        assert (255, 127, 14) not in found  # orange: no pooling of this board has it


def test_chance_lines_and_one_hash_prefix_everywhere(runs, tmp_path: Path) -> None:
    records, _ = read_records(runs)
    rows = aggregate(records)
    val = chance_levels([5] * 20)  # the records' validation split: 20 clips of 5 captions
    figure = curves_figure(
        {row.name: row.val_curves for row in rows},
        looks=row_looks(rows),
        chance={"t2a_R1": {val["t2a_R1"]}, "a2t_R1": {val["a2t_R1"]}},
    )
    assert figure is not None
    assert val["t2a_R1"] == 5.0  # 1 in 20 clips
    for ax, key in zip(figure.axes, (None, "t2a_R1", "a2t_R1"), strict=True):  # geo, R@1s
        dotted = [line.get_ydata()[0] for line in ax.get_lines() if line.get_linestyle() == ":"]
        assert dotted == ([] if key is None else [val[key]])
    assert split_chance((r.sizes for r in records), "val")["t2a_R1"] == {5.0}  # as drawn
    (bar_ax,) = bar_figure("t", rows, "h").axes
    assert [line.get_ydata()[0] for line in bar_ax.get_lines() if line.get_linestyle() == ":"] == [
        4.0  # t2a R@1 of a random ranking of the 25 test clips
    ]
    out = tmp_path / "boards"
    build_leaderboards(runs, out, formats=["md"], command="x")
    (md,) = out.glob("*.md")
    for _, _, run_hash, _ in ROWS:
        prefix = run_hash[:HASH_CHARS]
        assert f"| {prefix} " in md.read_text()
        assert any(row.name.endswith(f" {prefix}") for row in rows)
        assert run_hash[: HASH_CHARS + 1] not in md.read_text()
    ticks = [t.get_text() for t in bar_ax.get_xticklabels()]
    assert "max\naaaaaaaa" in ticks and "max\ndddddddd" in ticks  # lms/max twice: its hashes
