"""Validation curves of leaderboard rows drawn from the records' ``val_curve``."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from atr_bench.cli.main import main
from atr_bench.record.results import read_records
from atr_bench.report.curves import draw_validation_curves, row_curve


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


def test_curves_png_of_real_runs_has_the_expected_size_and_both_rows(
    tiny_data, tmp_path, tiny_args
):
    runs = tmp_path / "runs"
    args = tiny_args(tiny_data, runs, "--pooling", "mean", "--seeds", "0,1", "--log-to", "none")
    assert main(args) == 0
    records, problems = read_records(runs)
    assert not problems and len(records) == 2
    real = [record.val_curve for record in records]
    rows = {"lms/mean": real, "made up": [_curve([5.0, 6.0])], "no curve": [[]]}
    path = draw_validation_curves(rows, tmp_path / "out" / "curves.png", title="tiny")
    assert path == tmp_path / "out" / "curves.png"
    with Image.open(path) as image:
        image.verify()  # a whole, valid PNG
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (3 * 480, 400 + 24)  # three panels, one legend line
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    for color in ((0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E)):  # each drawn row's line colour
        assert (np.abs(pixels.astype(int) - color).sum(axis=1) < 30).sum() > 100
    assert list(path.parent.iterdir()) == [path]  # no temp file left beside it


def test_no_curve_in_any_record_draws_nothing(tmp_path):
    assert draw_validation_curves({"old": [[]]}, tmp_path / "c.png") is None
    assert not (tmp_path / "c.png").exists()
