"""The other metric definitions in records, boards and ``atr-bench compare``: labelled, from
the records' own numbers, missing (never made up) for records older than schema 4, and with
chance levels counted over every ranking of a small split."""

from __future__ import annotations

import json
import math
from itertools import permutations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ranked_records import similarities, write_seed

from atr_bench.cli.main import main
from atr_bench.record.metric_names import BY_KEY, DEFINITION_KEYS, definitions
from atr_bench.record.results import read_record, read_records, record_path
from atr_bench.record.run_record import RunRecord, schema_problem
from atr_bench.report.chance import chance_levels
from atr_bench.report.leaderboard import build_leaderboards
from atr_bench.run.metrics import metrics_from_ranks, query_ranks

N_CLIPS, PER_CLIP = 24, 3
CAPTION_CLIP = np.repeat(np.arange(N_CLIPS), PER_CLIP)


def _record(runs: Path, pooling: str, skill: float, seed: int, old: bool = False) -> RunRecord:
    """One seed's record and ranks as a run writes them; ``old``: as schema 3 wrote them (no
    other definitions in ``test``, no tie counts in the ranks file)."""
    ranks = query_ranks(similarities(CAPTION_CLIP, skill, seed, decimals=0), CAPTION_CLIP)
    run_id = f"synthcaps-lms-{pooling}-s{seed}"
    test = metrics_from_ranks(ranks)
    if old:
        ranks = type(ranks)(ranks.t2a, ranks.caption, ranks.caption_clip)
        test = {
            d: {k: v for k, v in m.items() if k not in DEFINITION_KEYS} for d, m in test.items()
        }
    record = write_seed(
        runs,
        run_id,
        ranks,
        dataset="synthcaps",
        pooling=pooling,
        seed=seed,
        test=test,
        sizes={"test": {"clips": N_CLIPS, "captions": len(CAPTION_CLIP)}},
        metric_definitions=None if old else definitions(test["t2a"]),
    )
    path = record_path(runs, run_id)
    if old:
        path.write_text(json.dumps({**json.loads(path.read_text()), "schema": 3}))
    return record


def _split(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip("|").split("|")]


def _cells(md: str, section: str, pooling: str) -> dict[str, str]:
    """The cells of ``pooling``'s line in the table under heading ``section``, by header."""
    lines = [line for line in md.split(section, 1)[1].splitlines() if line.startswith("|")]
    line = next(line for line in lines if line.startswith("| lms ") and f" {pooling} " in line)
    return dict(zip(_split(lines[0]), _split(line), strict=True))


def test_a_board_shows_the_definitions_side_by_side_and_old_records_as_missing(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "boards"
    new = [_record(runs, "new", 2.0, seed) for seed in (0, 1)]
    for seed in (0, 1):
        _record(runs, "old", 2.0, seed, old=True)
    report = build_leaderboards(runs, out, formats=("md", "csv"), command="x")
    assert not report.problems and report.records_used == 4
    md = (out / "synthcaps-lou2022.md").read_text(encoding="utf-8")
    assert "## Metric definitions side by side" in md
    for direction in ("t2a", "a2t"):
        cells = _cells(md, f"### {direction}", "new")
        for key in ("R1", "R1_hits", "R5_released", "R10_hits", "mAP10", "nDCG10", "MRR10"):
            values = [r.test[direction][key] for r in new]
            mean, std = np.mean(values), np.std(values, ddof=1)
            assert cells[f"{direction} {BY_KEY[key].label}"].strip("*") == f"{mean:.1f} ± {std:.1f}"
        old = _cells(md, f"### {direction}", "old")
        assert old[f"{direction} nDCG@10"] == old[f"{direction} R@1 (ties=hits)"] == "–"
        assert old[f"{direction} R@1"] != "–"  # its own metrics are there
    assert "before record schema 4" in md and "t2a nDCG@10 " in md.split("Chance", 1)[1]
    main_table = md.split("## Metric definitions", 1)[0]
    assert "ties=hits" not in main_table and "nDCG" not in main_table  # unchanged
    frame = pd.read_csv(out / "synthcaps-lou2022.csv", comment="#").set_index("pooling")
    assert frame.loc["new", "a2t_MRR10_mean"] == pytest.approx(
        np.mean([r.test["a2t"]["MRR10"] for r in new])
    )
    assert math.isnan(frame.loc["old", "a2t_MRR10_mean"])


def test_a_board_of_old_records_alone_has_no_definitions_section(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "boards"
    for seed in (0, 1):
        _record(runs, "old", 1.0, seed, old=True)
    build_leaderboards(runs, out, formats=("md", "csv"), command="x")
    md = (out / "synthcaps-lou2022.md").read_text(encoding="utf-8")
    assert "Metric definitions" not in md and "ties=hits" not in md
    assert "nDCG10" not in (out / "synthcaps-lou2022.csv").read_text(encoding="utf-8")


def test_a_row_mixing_old_and_new_seeds_shows_the_new_metrics_as_missing(tmp_path):
    # seed 1 run again after schema 4: the row's mean would cover one seed of two
    runs, out = tmp_path / "runs", tmp_path / "boards"
    _record(runs, "mixed", 2.0, 0, old=True)
    _record(runs, "mixed", 2.0, 1)
    _record(runs, "new", 2.0, 0)
    build_leaderboards(runs, out, formats=("md",), command="x")
    md = (out / "synthcaps-lou2022.md").read_text(encoding="utf-8")
    assert _cells(md, "### t2a", "mixed")["t2a MRR@10"] == "–"
    assert _cells(md, "### t2a", "mixed")["t2a R@1"] != "–"
    assert _cells(md, "### t2a", "new")["t2a MRR@10"] != "–"


def test_compare_labels_every_definition_and_says_what_old_ranks_lack(tmp_path, capsys):
    runs = tmp_path / "runs"
    for seed in (0, 1):
        _record(runs, "good", 3.0, seed)
        _record(runs, "bad", 0.5, seed)
        _record(runs, "old", 0.5, seed, old=True)
    assert main(["compare", "goodhash", "badhash", "--runs-dir", str(runs)]) == 0
    text = capsys.readouterr().out
    for label in ("t2a R@1 (ties=hits)", "a2t R@10 (released code)", "a2t nDCG@10", "t2a MRR@10"):
        assert f"| {label} " in text
    assert "left out" not in text
    assert main(["compare", "goodhash", "oldhash", "--runs-dir", str(runs)]) == 0
    text = capsys.readouterr().out
    tables = text.split("pooled", 1)[1]
    assert "(ties=hits)" not in tables and "nDCG@10" not in tables
    assert "| t2a R@5 (released code) " in text  # tie-averaged ranks give it
    assert "left out: a ranks file written before record schema 4" in text


def test_intervals_of_another_definition_on_request(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "boards"
    for seed in (0, 1):
        _record(runs, "new", 2.0, seed)
        _record(runs, "old", 2.0, seed, old=True)
    args = ["leaderboard", "--runs-dir", str(runs), "--out", str(out), "--format", "csv"]
    assert main([*args, "--intervals", "t2a_nDCG10,a2t_R1_hits"]) == 0
    frame = pd.read_csv(out / "synthcaps-lou2022.csv", comment="#").set_index("pooling")
    low, high, mean = (frame.loc["new", f"t2a_nDCG10_{p}"] for p in ("ci_low", "ci_high", "mean"))
    assert low < mean < high
    assert math.isnan(frame.loc["old", "t2a_nDCG10_ci_low"])  # its ranks cannot give it


def test_records_state_their_definitions_and_old_ones_still_read(tmp_path):
    runs = tmp_path / "runs"
    new = _record(runs, "new", 2.0, 0)
    _record(runs, "old", 2.0, 0, old=True)
    records, problems = read_records(runs)
    assert not problems and len(records) == 2
    data = json.loads(record_path(runs, "synthcaps-lms-new-s0").read_text())
    assert data["schema"] == 4
    assert data["metric_definitions"]["R1_hits"].startswith("R@1 (ties=hits): ")
    assert "ties averaged" in data["metric_definitions"]["R1"]
    assert set(data["metric_definitions"]) == set(new.test["t2a"])
    assert read_record(record_path(runs, "synthcaps-lms-old-s0")).metric_definitions is None


def test_recalls_of_one_definition_may_not_fall_as_k_grows(tmp_path):
    runs = tmp_path / "runs"
    _record(runs, "new", 2.0, 0)
    data = json.loads(record_path(runs, "synthcaps-lms-new-s0").read_text())
    hits = data["test"]["a2t"]
    hits["R10_hits"] = hits["R5_hits"] - 1
    assert "a2t recalls fall as k grows" in (schema_problem(data) or "")
    hits["R10_hits"] = hits["R50_hits"] = 100.0
    hits["R5"] = hits["R1"] = 0.0  # another definition's R@5 may be lower
    assert schema_problem(data) is None


def test_a_ranks_file_that_gives_another_new_metric_leaves_its_record_off(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "boards"
    _record(runs, "new", 2.0, 0)
    path = record_path(runs, "synthcaps-lms-new-s0")
    data = json.loads(path.read_text())
    data["test"]["t2a"]["MRR10"] -= 1.0
    path.write_text(json.dumps(data))
    report = build_leaderboards(runs, out, formats=("md",), command="x")
    assert report.records_used == 0
    assert "its test t2a MRR10 is" in report.problems[0].reason


@pytest.mark.parametrize("captions_per_clip", [(1, 2, 2), (3, 1), (1, 1, 1, 1, 1, 1)])
def test_the_chance_of_ndcg_and_mrr_counts_every_ranking(captions_per_clip):
    clip_of = [clip for clip, n in enumerate(captions_per_clip) for _ in range(n)]
    n_clips, n_captions = len(captions_per_clip), len(clip_of)
    levels = chance_levels(captions_per_clip, definitions=True)

    def dcg(positions):
        return sum(1 / math.log2(p + 1) for p in positions if p <= 10)

    def mean_over(orders, n_relevant, is_relevant):
        ndcg, rr = [], []
        for order in orders:
            mine = [p for p, item in enumerate(order, 1) if is_relevant(item)]
            ndcg.append(dcg(mine) / dcg(range(1, n_relevant + 1)))
            rr.append(1 / mine[0] if mine[0] <= 10 else 0.0)
        return 100 * np.mean(ndcg), 100 * np.mean(rr)

    t2a = mean_over(list(permutations(range(n_clips))), 1, lambda clip: clip == 0)
    assert (levels["t2a_nDCG10"], levels["t2a_MRR10"]) == pytest.approx(t2a)
    orders = list(permutations(range(n_captions)))
    per_clip = [
        mean_over(orders, captions_per_clip[c], lambda cap, c=c: clip_of[cap] == c)
        for c in range(n_clips)
    ]
    assert levels["a2t_nDCG10"] == pytest.approx(np.mean([x[0] for x in per_clip]))
    assert levels["a2t_MRR10"] == pytest.approx(np.mean([x[1] for x in per_clip]))
    for k in (1, 5, 10):
        assert levels[f"t2a_R{k}_hits"] == levels[f"t2a_R{k}"]
    assert "t2a_nDCG10" not in chance_levels(captions_per_clip)
