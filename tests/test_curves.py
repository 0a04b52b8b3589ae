"""Validation curves of leaderboard rows drawn from the records' ``val_curve``."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from atr_bench.cli.main import main
from atr_bench.record.results import read_records
from atr_bench.report.curves import (
    CURVE_METRICS,
    curves_figure,
    draw_validation_curves,
    row_curve,
)


def _curve(t2a_r1_by_epoch: list[float]) -> list[dict]:
    return [
        {"epoch": i + 1, "loss": 1.0, "val": {"t2a": {"R1": v, "geo": v}, "a2t": {"R1": v}}}
        for i, v in enumerate(t2a_r1_by_epoch)
    ]


def test_row_curve_is_the_mean_and_std_over_the_seeds_that_reached_each_epoch():
    seed_curves = [_curve([10.0, 20.0]), _curve([30.0, 40.0, 50.0]), []]
    curve = row_curve(seed_curves, "t2a", "R1")
    assert curve.epochs == (1, 2, 3) and curve.seeds == 2  # the seed without a curve: none
    assert curve.mean == (20.0, 30.0, 50.0)
    assert curve.std == pytest.approx((np.std([10, 30], ddof=1), np.std([20, 40], ddof=1), 0.0))


def test_curves_of_real_runs_draw_each_rows_mean_per_epoch(tiny_data, tmp_path, tiny_args):
    """Each panel has a line per row with a curve, whose points are that row's mean over its
    seeds per epoch, labelled with the seed count; a row without a curve has none; the PNG is
    written whole, with nothing left beside it."""
    runs = tmp_path / "runs"
    args = tiny_args(tiny_data, runs, "--pooling", "mean", "--seeds", "0,1", "--log-to", "none")
    assert main(args) == 0
    records, problems = read_records(runs)
    assert not problems and len(records) == 2
    real = [record.val_curve for record in records]
    rows = {"lms/mean": real, "made up": [_curve([5.0, 6.0])], "no curve": [[]]}
    figure = curves_figure(rows)
    assert figure is not None
    for ax, (direction, metric) in zip(figure.axes, CURVE_METRICS, strict=True):
        lines = {line.get_label(): line for line in ax.get_lines()}
        assert set(lines) == {"lms/mean (2 seeds)", "made up (1 seed)"}
        expected = row_curve(real, direction, metric)
        assert tuple(lines["lms/mean (2 seeds)"].get_xdata()) == expected.epochs
        np.testing.assert_allclose(lines["lms/mean (2 seeds)"].get_ydata(), expected.mean)
        made_up = row_curve(rows["made up"], direction, metric)
        np.testing.assert_allclose(lines["made up (1 seed)"].get_ydata(), made_up.mean)
    path = draw_validation_curves(rows, tmp_path / "out" / "curves.png", title="tiny")
    assert path == tmp_path / "out" / "curves.png"
    with Image.open(path) as image:
        image.verify()  # a whole, valid PNG
    assert list(path.parent.iterdir()) == [path]  # no temp file left beside it


def test_no_curve_in_any_record_draws_nothing(tmp_path):
    assert draw_validation_curves({"old": [[]]}, tmp_path / "c.png") is None
    assert not (tmp_path / "c.png").exists()
