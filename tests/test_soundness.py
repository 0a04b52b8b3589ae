"""Soundness before training (``run.soundness``): an installed pooling that ignores the mask or
leaks NaN through padding stops the run before any data loads, with one line; with
``--allow-unsound`` it trains, its record says so and its board row is marked, never best."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from atr_bench.cli.main import build_parser, main
from atr_bench.cli.run import config_from_args
from atr_bench.plugins.registry import ENV_FILTER, registry
from atr_bench.record.results import read_records
from atr_bench.report.leaderboard import build_leaderboards
from atr_bench.run import soundness
from atr_bench.run.config import RunRequest
from atr_bench.run.plan import plan

BAD = """
import torch
from torch import nn

from atr_bench import PoolingSpec, hookimpl


class IgnoresMask(nn.Module):
    def __init__(self, in_dim):
        super().__init__()
        self.out_dim = in_dim

    def forward(self, x, mask):
        return x.mean(1)


class LeaksNaN(IgnoresMask):
    def forward(self, x, mask):
        return (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)


@hookimpl
def atr_bench_poolings():
    return [
        PoolingSpec("ignoremask", "mean over padding too", IgnoresMask),
        PoolingSpec("nanleak", "masks by multiplying", LeaksNaN),
    ]
"""
"""Two unsound poolings, as a plugin distribution ships them."""

CASES = [("ignoremask", "padding"), ("nanleak", "finite")]
"""Each bad pooling and the check it fails first."""


@pytest.fixture
def bad_poolings(tmp_path, monkeypatch, fake_distribution):
    site = tmp_path / "site"
    site.mkdir()
    fake_distribution(site, "badpools", BAD)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv(ENV_FILTER, raising=False)
    registry.cache_clear()
    yield
    registry.cache_clear()


@pytest.mark.parametrize(("pooling", "check"), CASES)
def test_an_unsound_pooling_stops_the_run_before_its_data_loads(
    bad_poolings, pooling, check, tmp_path, capsys, tiny_args
):
    data, runs = tmp_path / "data", tmp_path / "runs"
    assert main(tiny_args(data, runs, "--pooling", pooling)) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(
        f"atr-bench: error: audio pooling {pooling!r} (plugin 'badpools', badpools 1.0) fails "
        f"the soundness check(s) {check}"
    )
    assert line.endswith("pass --allow-unsound to train it anyway")
    assert not data.exists() and not runs.exists()  # nothing loaded, nothing trained


def test_each_bad_pooling_fails_only_the_checks_of_its_property(bad_poolings, tmp_path):
    failed = {}
    for pooling, _ in CASES:
        the_plan = plan(RunRequest(pooling=pooling), registry(), tmp_path)
        failed[pooling] = {(f.component, f.check) for f in soundness.unsound(the_plan)}
    both = ("pooling", "text_pooling")
    assert failed["ignoremask"] == {(side, c) for side in both for c in ("padding", "finite")}
    assert failed["nanleak"] == {(side, "finite") for side in both}


def test_with_the_override_they_train_and_their_rows_are_marked_never_best(
    bad_poolings, tiny_data, tmp_path, capsys, tiny_args
):
    runs = tmp_path / "runs"
    assert main(tiny_args(tiny_data, runs, "--pooling", "mean", "--epochs", "1")) == 0
    for pooling, check in CASES:
        args = tiny_args(tiny_data, runs, "--pooling", pooling, "--epochs", "1")
        assert main([*args, "--allow-unsound"]) == 0
        assert f"unsound poolings trained on purpose: {{'pooling': ['{check}'" in (
            capsys.readouterr().err
        )
    records, problems = read_records(runs)
    assert not problems
    by_pooling = {r.pooling: r for r in records}
    assert by_pooling["mean"].unsound is None
    assert by_pooling["ignoremask"].unsound == {
        "pooling": ["padding", "finite"],
        "text_pooling": ["padding", "finite"],
    }
    assert by_pooling["nanleak"].unsound == {"pooling": ["finite"], "text_pooling": ["finite"]}
    args = tiny_args(tiny_data, runs, "--pooling", "nanleak", "--epochs", "1")
    unforced = plan(config_from_args(build_parser().parse_args(args)), registry(), tiny_data)
    assert by_pooling["nanleak"].run_id == unforced.run_id(0)  # the override keeps the id

    out = tmp_path / "boards"
    build_leaderboards(runs, out, formats=("md", "csv", "tex"), command="x", include_smoke=True)
    (board,) = out.glob("*.md")  # tiny runs on one test set: one (smoke) board
    table = [line for line in board.read_text().splitlines() if "| lms" in line]
    rows = {line.split("|")[2].strip(): line for line in table}
    assert next(iter(rows)) == "mean"  # sound rows come first
    assert "unsound" not in rows["mean"]  # (one seed each: no row is bold here)
    assert "⚠ unsound: finite, padding;" in rows["ignoremask"] and "**" not in rows["ignoremask"]
    assert "⚠ unsound: finite;" in rows["nanleak"] and "**" not in rows["nanleak"]
    assert "finite padding" in board.with_suffix(".csv").read_text()
    tex = board.with_suffix(".tex").read_text()
    assert "(!) unsound: finite;" in tex  # pdflatex's fonts have no ⚠
    assert not [line for line in tex.splitlines() if "⚠" in line and not line.startswith("%")]


def test_every_builtin_pooling_is_sound_with_its_defaults(tmp_path):
    for found in registry().all("pooling"):
        the_plan = plan(RunRequest(pooling=found.spec.name), registry(), tmp_path)
        assert soundness.unsound(the_plan) == (), found.spec.name


def test_the_checks_leave_every_random_state_as_it_was(tmp_path):
    the_plan = plan(RunRequest(pooling="transformer"), registry(), tmp_path)

    def draws(check: bool) -> tuple:
        torch.manual_seed(5), random.seed(5), np.random.seed(5)
        if check:
            soundness._checked.clear()
            assert soundness.unsound(the_plan) == ()
        return torch.rand(3).tolist(), random.random(), np.random.rand()

    assert draws(check=True) == draws(check=False)


def test_a_sweep_reports_an_unsound_pooling_and_runs_the_rest_unless_allowed(
    bad_poolings, tiny_data, tmp_path, capsys, tiny_args
):
    runs = tmp_path / "runs"
    args = tiny_args(tiny_data, runs, "--pooling", "mean,nanleak", "--epochs", "1")
    args = ["sweep", *args[1:], "--threads", "1"]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "1 runs done, 0 already done (skipped), 1 failed" in out
    assert "audio pooling 'nanleak' (plugin 'badpools', badpools 1.0) fails" in out
    allowed = [*args, "--allow-unsound", "--jobs", "2"]
    assert main(allowed) == 0  # a worker process (a Task) runs it
    records, _ = read_records(runs)
    assert {r.pooling: r.unsound for r in records} == {
        "mean": None,
        "nanleak": {"pooling": ["finite"], "text_pooling": ["finite"]},
    }
