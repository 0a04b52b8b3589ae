"""Boards group rows by test set: rows tested on different sets are never ranked, bolded or
plotted together; smoke-sized runs stay off the main board unless asked; older records without
a test digest keep their board."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from atr_bench.cli.main import main
from atr_bench.files.atomic import write_json
from atr_bench.record.run_record import SCHEMA_VERSION
from atr_bench.report.leaderboard import build_leaderboards

A, B = "a" * 64, "b" * 64


def metrics(r1: float) -> dict[str, float]:
    return {
        "R1": r1, "R5": r1 + 20, "R10": r1 + 30, "R50": 90.0, "MedR": 5.0, "MeanR": 9.0,
        "mAP10": 20.0, "geo": r1 + 10,
    }  # fmt: skip


def record(
    pooling: str,
    t2a_r1: float,
    *,
    test: str | None = A,
    settings: dict[str, Any] | None = None,
    coverage: str | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "run_id": f"{pooling}-{(test or 'none')[:4]}-{len(settings or {})}-s{seed}",
        "created": "2025-01-01T00:00:00+00:00",
        "dataset": "synthcaps",
        "extractor": "lms",
        "pooling": pooling,
        "text_pooling": None,
        "text_encoder": "w2v_synth",
        "seed": seed,
        "protocol": {"name": "lou2022", "version": 1},
        "protocol_hash": f"{pooling}-{len(settings or {})}".ljust(12, "0"),
        "settings": settings or {},
        "device": "cpu (x86_64, 2 threads)",
        "test": {"t2a": metrics(t2a_r1), "a2t": metrics(t2a_r1 / 2)},
        "order_contrast": None,
    }
    if test is not None:
        out["split_digests"] = {"test": {"sha256": test, "clips": 300, "captions": 1500}}
    if coverage is not None:
        out["coverage"] = {"test": {"text": coverage}}
    return out


def build(tmp_path: Path, records: list[dict[str, Any]], **options: Any):
    runs, out = tmp_path / "runs", tmp_path / "boards"
    for r in records:
        write_json(runs / f"{r['run_id']}.json", r)
    return build_leaderboards(runs, out, formats=("md", "csv", "png"), **options), out


def poolings(out: Path, stem: str) -> list[str]:
    return list(pd.read_csv(out / f"{stem}.csv", comment="#")["pooling"])


def test_rows_on_two_test_sets_are_two_boards(tmp_path) -> None:
    report, out = build(
        tmp_path,
        [
            *(record("mean", 20.0, seed=seed) for seed in (0, 1)),  # two seeds: can be bold
            *(record("max", 10.0, seed=seed) for seed in (0, 1)),
            record("lstm", 50.0, test=B, coverage="AudioCaps 2.0, 957 of 975 clips"),
            record("netvlad", 5.0, test=None),  # an older record: no digest
        ],
    )
    a, b = "synthcaps-lou2022-test-aaaaaaaa", "synthcaps-lou2022-test-bbbbbbbb"
    assert report.boards == {a: 2, b: 1, "synthcaps-lou2022": 1}
    assert poolings(out, a) == ["mean", "max"]
    assert poolings(out, b) == ["lstm"] and poolings(out, "synthcaps-lou2022") == ["netvlad"]
    board_a = (out / f"{a}.md").read_text()
    assert "test set aaaaaaaa (300 clips, 1,500 captions)" in board_a
    assert "lstm" not in board_a and "**20.0" in board_a  # mean is best on its own set
    board_b = (out / f"{b}.md").read_text()
    assert "test set bbbbbbbb (AudioCaps 2.0, 957 of 975 clips)" in board_b
    assert "**" not in board_b.split("| lstm", 1)[1].split("\n", 1)[0]  # alone: nothing bold
    for stem in (a, b, "synthcaps-lou2022"):
        assert (out / f"{stem}.png").stat().st_size > 0


def test_smoke_runs_stay_off_the_main_board_unless_asked(tmp_path, capsys) -> None:
    records = [
        record("mean", 20.0),
        record("max", 60.0, settings={"dataset.train": 64, "dataset.test": 24}),
        record("lstm", 55.0, settings={"epochs": 2}),
        record("netvlad", 15.0, settings={"epochs": 60}),  # more epochs: a full run
        record("old", 1.0, settings={"dataset.train": 64}, test=None),  # keeps its old board
    ]
    report, out = build(tmp_path / "default", records)
    main_board = "synthcaps-lou2022-test-aaaaaaaa"
    assert report.boards == {main_board: 2, "synthcaps-lou2022": 1}
    assert poolings(out, main_board) == ["mean", "netvlad"]
    line = next(x for x in report.lines() if "smoke-sized" in x)
    assert line.startswith("2 smoke-sized records left off (")
    assert "1 with dataset.test=24, dataset.train=64" in line and "1 with epochs=2 < 20" in line
    assert "--include-smoke" in line

    report, out = build(tmp_path / "included", records, include_smoke=True)
    smoke = f"{main_board}-smoke"
    assert report.boards == {main_board: 2, smoke: 2, "synthcaps-lou2022": 1}
    assert poolings(out, main_board) == ["mean", "netvlad"]
    assert poolings(out, smoke) == ["max", "lstm"]
    assert "smoke-sized runs" in (out / f"{smoke}.md").read_text()

    runs = tmp_path / "default" / "runs"
    args = ["leaderboard", "--runs-dir", str(runs), "--out", str(tmp_path / "cli")]
    assert main(args) == 0
    assert "2 smoke-sized records left off" in capsys.readouterr().out
    assert main([*args, "--include-smoke", "--overwrite"]) == 0  # the main board again
    assert (tmp_path / "cli" / f"{smoke}.csv").exists()


def test_asking_for_a_dataset_with_only_smoke_runs_says_how_to_show_them(tmp_path, capsys) -> None:
    runs = tmp_path / "runs"
    smoke = record("max", 60.0, settings={"dataset.train": 64})
    write_json(runs / f"{smoke['run_id']}.json", smoke)
    args = ["leaderboard", "--runs-dir", str(runs), "--out", str(tmp_path / "b")]
    assert main([*args, "--dataset", "synthcaps"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"atr-bench: error: --dataset synthcaps: only smoke-sized run records of it in {runs}; "
        "pass --include-smoke to show them"
    )
    assert main([*args, "--dataset", "synthcaps", "--include-smoke"]) == 0
