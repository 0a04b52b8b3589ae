"""Per-query ranks, bootstrap intervals, paired tests, ``atr-bench compare`` and the board's
interval, near-best and cost columns, on records made by the harness's own code from known
similarity matrices."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ranked_records import similarities, write_seed

from atr_bench.cli.main import main
from atr_bench.record.ranks import ranks_path, read_ranks, write_ranks
from atr_bench.record.results import read_record, record_path
from atr_bench.record.run_record import Seconds
from atr_bench.report.leaderboard import build_leaderboards
from atr_bench.report.significance import (
    interval,
    paired,
    pooled,
    scores,
    seeds_and_queries_interval,
)
from atr_bench.run.metrics import metrics_from_ranks, query_ranks, retrieval_metrics

N_CLIPS, PER_CLIP = 30, 5
CAPTION_CLIP = np.repeat(np.arange(N_CLIPS), PER_CLIP)


def _sims(skill: float, seed: int) -> np.ndarray:
    """Captions x clips similarities: noise plus ``skill`` on every caption's own clip."""
    return similarities(CAPTION_CLIP, skill, seed, decimals=1)  # rounding makes ties


def test_ranks_reproduce_every_metric_exactly(tmp_path: Path) -> None:
    sims = _sims(1.0, 0)
    ranks = read_ranks(write_ranks(tmp_path / "r.ranks.npz", query_ranks(sims, CAPTION_CLIP)))
    assert metrics_from_ranks(ranks) == retrieval_metrics(sims, CAPTION_CLIP)
    metrics = retrieval_metrics(sims, CAPTION_CLIP)
    for direction in ("t2a", "a2t"):
        for metric in ("R1", "R10", "mAP10", "MeanR"):
            mean = scores(ranks, f"{direction}_{metric}").mean()
            assert mean == pytest.approx(metrics[direction][metric], rel=1e-12)


def test_identical_rows_differ_by_an_interval_around_zero_and_p_one() -> None:
    x = scores(query_ranks(_sims(1.0, 0), CAPTION_CLIP), "t2a_R1")
    d = paired(x, x.copy())
    assert (d.difference, d.low, d.high, d.p) == (0.0, 0.0, 0.0, 1.0)


def test_a_row_that_wins_every_query_has_p_near_zero() -> None:
    a, b = np.full(150, 100.0), np.zeros(150)
    d = paired(a, b)
    assert d.difference == 100.0 and d.p < 1e-3 and d.low > 0


def test_interval_is_seeded_and_brackets_the_mean() -> None:
    x = scores(query_ranks(_sims(0.5, 1), CAPTION_CLIP), "t2a_R10")
    low, high = interval(x)
    assert low < x.mean() < high and interval(x) == (low, high)


def _row(
    runs: Path, pooling: str, skill: float, seeds: tuple[int, ...], noise: int | None = None
) -> str:
    """Records and ranks of one row, written as ``run_seed`` writes them; each seed's noise is
    drawn with the seed, or with ``noise`` for all of them (seeds that agree exactly)."""
    for seed in seeds:
        run_id = f"synthcaps-lms-{pooling}-s{seed}"
        ranks = query_ranks(_sims(skill, seed if noise is None else noise), CAPTION_CLIP)
        write_seed(
            runs,
            run_id,
            ranks,
            dataset="synthcaps",
            pooling=pooling,
            seed=seed,
            seconds=Seconds(load=1.0, train=10.0 + seed, test=1.0),
            parameters=1000 * len(pooling),
        )
    return f"{pooling}hash"


def test_compare_and_the_board_from_records_with_ranks(tmp_path: Path, capsys) -> None:
    runs, out = tmp_path / "runs", tmp_path / "boards"
    good = _row(runs, "good", 3.0, (0, 1))
    _row(runs, "twin", 3.0, (0, 1))  # the same ranks as good: not significantly below it
    bad = _row(runs, "bad", -3.0, (0, 1))
    assert main(["compare", good, bad, "--runs-dir", str(runs)]) == 0
    text = capsys.readouterr().out
    pooled_line = next(line for line in text.splitlines() if line.startswith("| t2a R@1 "))
    cells = [c.strip() for c in pooled_line.strip("|").split("|")]
    assert float(cells[3]) > 50 and float(cells[5]) < 1e-3
    assert "seed 0" in text and "seed 1" in text
    assert main(["compare", good, "synthcaps-lms-good-s0", "--runs-dir", str(runs)]) == 0
    assert "\n| t2a R@1 " in capsys.readouterr().out
    assert main(["compare", "nosuch", bad, "--runs-dir", str(runs)]) == 2
    assert "nosuch: no run id or protocol hash" in capsys.readouterr().err

    build_leaderboards(runs, out, command="x")
    md = (out / "synthcaps-lou2022.md").read_text(encoding="utf-8")
    assert "t2a R@1 95% CI" in md and "percentile bootstrap" in md and "params" in md
    main_table = md.split("## Metric definitions side by side")[0].splitlines()
    lines = {line.split("|")[2].strip(): line for line in main_table if line.startswith("| lms")}
    assert "†" in lines["twin"] and "†" not in lines["bad"] and "†" not in lines["good"]
    assert "10.5 ± 0.7" in lines["good"]  # training seconds per seed
    frame = pd.read_csv(out / "synthcaps-lou2022.csv", comment="#")
    good_row = frame[frame["pooling"] == "good"].iloc[0]
    assert good_row["t2a_R1_ci_low"] <= good_row["t2a_R1_mean"] <= good_row["t2a_R1_ci_high"]
    assert set(frame[frame["near_best"]]["pooling"]) == {"twin"}
    assert dict(zip(frame["pooling"], frame["parameters"], strict=True))["good"] == 4000
    tex = (out / "synthcaps-lou2022.tex").read_text(encoding="utf-8")
    assert r"$^\dagger$" in tex


def test_a_schema_one_record_compares_with_a_clear_error(tmp_path: Path, capsys) -> None:
    runs = tmp_path / "runs"
    _row(runs, "good", 3.0, (0,))
    path = record_path(runs, "synthcaps-lms-good-s0")
    old = {
        k: v for k, v in json.loads(path.read_text()).items() if k not in ("ranks", "parameters")
    }
    path.write_text(json.dumps({**old, "schema": 1}))
    assert read_record(path).ranks is None
    assert main(["compare", "goodhash", "goodhash", "--runs-dir", str(runs)]) == 2
    assert "kept no per-query ranks" in capsys.readouterr().err


def test_pooled_scores_average_the_seeds() -> None:
    seeds = [query_ranks(_sims(1.0, s), CAPTION_CLIP) for s in (0, 1)]
    each = [scores(r, "a2t_R1") for r in seeds]
    np.testing.assert_array_equal(pooled(seeds, "a2t_R1"), (each[0] + each[1]) / 2)


def test_intervals_on_request_and_a_wrong_name(tmp_path: Path, capsys) -> None:
    runs, out = tmp_path / "runs", tmp_path / "boards"
    _row(runs, "good", 3.0, (0, 1))
    args = ["leaderboard", "--runs-dir", str(runs), "--out", str(out), "--format", "md,csv"]
    assert main([*args, "--intervals", "a2t_R1,t2a_MeanR"]) == 0
    md = (out / "synthcaps-lou2022.md").read_text(encoding="utf-8")
    assert "a2t R@1 95% CI" in md and "t2a MeanR 95% CI" in md and "t2a R@10 95% CI" not in md
    frame = pd.read_csv(out / "synthcaps-lou2022.csv", comment="#")
    assert frame.loc[0, "t2a_MeanR_ci_low"] <= frame.loc[0, "t2a_MeanR_ci_high"]
    capsys.readouterr()
    assert main([*args, "--intervals", "t2a_MedR"]) == 2
    assert "--intervals t2a_MedR: no interval for it" in capsys.readouterr().err


def _row_of_skills(runs: Path, pooling: str, skills: tuple[float, ...]) -> None:
    """A row whose seeds are as good as ``skills`` say (one per seed), on the same noise."""
    for seed, skill in enumerate(skills):
        _row(runs, pooling, skill, (seed,), noise=0)


def _interval_width(out: Path, pooling: str) -> float:
    frame = pd.read_csv(out / "synthcaps-lou2022.csv", comment="#")
    row = frame[frame["pooling"] == pooling].iloc[0]
    return float(row["t2a_R1_ci_high"] - row["t2a_R1_ci_low"])


def test_the_default_interval_widens_with_the_seeds_spread(tmp_path: Path) -> None:
    """Seeds that agree: the seeds-and-queries interval is about the queries-only one. Seeds
    that disagree: it is much wider; the queries-only one does not see them disagree."""
    runs = tmp_path / "runs"
    _row_of_skills(runs, "agree", (1.0, 1.0, 1.0))
    _row_of_skills(runs, "disagree", (0.2, 1.0, 3.0))
    widths = {}
    for method in ("seeds+queries", "queries"):
        out = tmp_path / method
        args = ["--runs-dir", str(runs), "--out", str(out), "--format", "md,csv"]
        assert main(["leaderboard", *args, "--interval-method", method]) == 0
        widths[method] = {p: _interval_width(out, p) for p in ("agree", "disagree")}
        md = (out / "synthcaps-lou2022.md").read_text(encoding="utf-8")
        assert ("over the row's seeds and the test queries" in md) == (method != "queries")
    both, queries = widths["seeds+queries"], widths["queries"]
    assert both["agree"] == pytest.approx(queries["agree"], rel=0.25)
    assert both["disagree"] > 2 * queries["disagree"]
    assert both["disagree"] > 2 * both["agree"]


def test_a_single_seed_row_has_an_interval_only_over_queries(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    _row(runs, "solo", 3.0, (0,))
    for method, has in (("seeds+queries", False), ("queries", True)):
        out = tmp_path / method
        args = ["--runs-dir", str(runs), "--out", str(out), "--format", "md,csv"]
        assert main(["leaderboard", *args, "--interval-method", method]) == 0
        frame = pd.read_csv(out / "synthcaps-lou2022.csv", comment="#")
        assert ("t2a_R1_ci_low" in frame.columns) == has
        md = (out / "synthcaps-lou2022.md").read_text(encoding="utf-8")
        assert "| 1 seed " in md


def test_seeds_and_queries_interval_is_seeded_and_brackets_the_mean() -> None:
    values = np.random.default_rng(1).random((3, 200)) * 100
    low, high = seeds_and_queries_interval(values)
    assert low < values.mean() < high and seeds_and_queries_interval(values) == (low, high)
    same = np.repeat(values[:1], 3, axis=0)  # three identical seeds: only the queries vary
    apart = same + np.array([[0.0], [20.0], [40.0]])  # the same seeds, 20 points apart
    width = {
        k: np.subtract(*seeds_and_queries_interval(v)[::-1])
        for k, v in (("same", same), ("apart", apart))
    }
    assert width["apart"] > 2 * width["same"]


def _tamper_ranks(path: Path, how: str) -> None:
    with np.load(path) as data:
        arrays = {key: data[key].copy() for key in data.files}
    if how == "rank-zero":
        arrays["t2a"][0] = 0
    elif how == "nan":
        arrays["caption"][3] = np.nan
    elif how == "clip-out-of-range":
        arrays["caption_clip"][-1] = 10**6
    elif how == "shorter":
        arrays["t2a"] = arrays["t2a"][:-1]
    elif how == "strings":
        arrays["t2a"] = arrays["t2a"].astype(str)
    elif how == "better":  # well-formed, but not what the record says
        arrays["t2a"] = np.ones_like(arrays["t2a"])
    np.savez(path, **arrays)


@pytest.mark.parametrize(
    "how", ["rank-zero", "nan", "clip-out-of-range", "shorter", "strings", "better", "folder"]
)
def test_a_bad_ranks_file_leaves_its_record_off_and_names_the_file(tmp_path: Path, how) -> None:
    runs, out = tmp_path / "runs", tmp_path / "boards"
    _row(runs, "good", 3.0, (0, 1))
    _row(runs, "bad", 1.0, (0, 1))
    path = ranks_path(runs, "synthcaps-lms-bad-s1")
    if how == "folder":
        path.unlink()
        path.mkdir()
    else:
        _tamper_ranks(path, how)
    report = build_leaderboards(runs, out, command="x", formats=("csv",))
    (problem,) = report.problems
    assert problem.path.name == "synthcaps-lms-bad-s1.json" and str(path) in problem.reason
    frame = pd.read_csv(out / "synthcaps-lou2022.csv", comment="#")
    seeds = dict(zip(frame["pooling"], frame["seeds"], strict=True))
    assert seeds == {"good": 2, "bad": 1}  # the other records are on the board as before


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"order_contrast": {"pairs": 10, "accuracy": 500.0}}, "order_contrast"),
        ({"seconds": {"load": 1.0, "train": -5.0, "test": 1.0}}, "seconds"),
        ({"sizes": {"test": {"clips": 30, "captions": 150}}, "MedR": 31.0}, "MedR = 31.0"),
        ({"R5": 0.5}, "recalls fall"),
    ],
)
def test_a_record_with_impossible_numbers_is_left_off(tmp_path: Path, change, reason) -> None:
    runs, out = tmp_path / "runs", tmp_path / "boards"
    _row(runs, "good", 3.0, (0, 1))
    path = record_path(runs, "synthcaps-lms-good-s1")
    data = json.loads(path.read_text())
    for key in ("MedR", "R5"):
        if key in change:
            data["test"]["t2a"][key] = change.pop(key)
    path.write_text(json.dumps({**data, **change}))
    report = build_leaderboards(runs, out, command="x", formats=("csv",))
    (problem,) = report.problems
    assert problem.path == path and reason in problem.reason
