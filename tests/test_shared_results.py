"""Results shared between labs: two runs folders of real tiny runs on one board (the same run
in both counted once, a doctored copy reported and left off), a bundle that round-trips, and a
sweep that ends with the board of what it ran."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from contextlib import redirect_stdout
from pathlib import Path

import pandas as pd
import pytest

from atr_bench.cli.main import main
from atr_bench.record.bundle import MANIFEST


def _sweep(tiny_args, data: Path, runs: Path, poolings: str, seeds: str) -> list[str]:
    args = tiny_args(data, runs, "--epochs", "1", "--seeds", seeds, "--pooling", poolings)
    args[0] = "sweep"
    return args


@pytest.fixture(scope="module")
def labs(tmp_path_factory: pytest.TempPathFactory, tiny_data, tiny_args):
    """Lab A swept mean and max (seed 0); lab B swept mean (seed 1) and holds a copy of A's
    mean seed 0 (the same run in both). Also what A's sweep printed."""
    root = tmp_path_factory.mktemp("labs")
    a, b = root / "lab-a", root / "lab-b"
    printed = io.StringIO()
    with redirect_stdout(printed):
        assert main(_sweep(tiny_args, tiny_data, a, "mean,max", "0")) == 0
        assert main(_sweep(tiny_args, tiny_data, b, "mean", "1")) == 0
    for path in a.glob("*-mean-*-s0.*"):
        shutil.copy(path, b)
    return a, b, printed.getvalue()


def _record(runs: Path, pooling: str, seed: int) -> tuple[Path, dict]:
    (path,) = runs.glob(f"*-{pooling}-*-s{seed}.json")
    return path, json.loads(path.read_text())


def _board(out: Path) -> pd.DataFrame:
    """The one board's CSV under ``out`` (the tiny runs are smoke-sized)."""
    (csv,) = out.glob("synthcaps-*-smoke.csv")
    return pd.read_csv(csv, comment="#").set_index("pooling")


def _leaderboard(capsys, out: Path, *sources: Path, extra: tuple[str, ...] = ()) -> str:
    args = ["leaderboard", "--out", str(out), "--include-smoke", "--format", "md,csv", *extra]
    for source in sources:
        args += ["--runs-dir", str(source)]
    assert main(args) == 0
    return capsys.readouterr().out


def test_sweep_ends_with_the_board_of_what_it_ran(labs) -> None:
    a, _, printed = labs
    sweep_a = printed.split("runs done")[1]  # lab A's sweep, the first
    assert "protocol lou2022-tuned@1" in sweep_a and "smoke-sized runs" in sweep_a
    lines = [line for line in sweep_a.split("intervals, best marks")[0].splitlines()]
    header = next(line for line in lines if line.startswith("| extractor"))
    labels = [cell.strip() for cell in header.strip("|").split("|")]
    rows = {}
    for line in lines[lines.index(header) + 2 :]:
        if not line.startswith("|"):
            break
        cells = dict(zip(labels, (c.strip() for c in line.strip("|").split("|")), strict=True))
        rows[cells["pooling"]] = cells
    assert set(rows) == {"mean", "max"}
    for pooling, cells in rows.items():
        _, record = _record(a, pooling, 0)
        assert cells["seeds"] == "1 seed"
        assert cells["t2a R@1"] == f"{record['test']['t2a']['R1']:.1f}"
        assert cells["a2t R@10"] == f"{record['test']['a2t']['R10']:.1f}"
    assert f"atr-bench leaderboard --runs-dir {a} --include-smoke" in sweep_a


def test_two_runs_folders_make_one_board_counting_a_shared_run_once(labs, tmp_path, capsys):
    a, b, _ = labs
    said = _leaderboard(capsys, tmp_path / "boards", a, b)
    assert "3 run records used" in said
    assert "1 run found in more than one source, each counted once" in said
    assert f"source runs folder {a}" in said and f"source runs folder {b}" in said
    board = _board(tmp_path / "boards")
    assert sorted(board.index) == ["max", "mean"]
    assert board.loc["mean", "seed_list"] == "0 1" and board.loc["mean", "source"] == f"{a}; {b}"
    r1 = [_record(runs, "mean", seed)[1]["test"]["t2a"]["R1"] for runs, seed in ((a, 0), (b, 1))]
    assert board.loc["mean", "t2a_R1_mean"] == pytest.approx(sum(r1) / 2)
    assert board.loc["max", "seeds"] == 1 and board.loc["max", "source"] == str(a)
    (md,) = (tmp_path / "boards").glob("*.md")
    assert "| source" in md.read_text() and "counted once" in md.read_text()


def test_one_folder_board_has_no_source_column(labs, tmp_path, capsys) -> None:
    a, _, _ = labs
    said = _leaderboard(capsys, tmp_path / "boards", a)
    assert "source" not in _board(tmp_path / "boards").columns and "source " not in said


def test_a_doctored_copy_is_reported_and_left_off(labs, tmp_path, capsys) -> None:
    a, _, _ = labs
    doctored = tmp_path / "lab-c"
    doctored.mkdir()
    path, record = _record(a, "max", 0)
    record["test"]["t2a"]["mAP10"] = (record["test"]["t2a"]["mAP10"] + 1.0) % 100
    (doctored / path.name).write_text(json.dumps(record))
    shutil.copy(a / record["ranks"], doctored)
    said = _leaderboard(capsys, tmp_path / "boards", a, doctored)
    (line,) = [line for line in said.splitlines() if line.startswith("conflict:")]
    assert record["run_id"] in line and str(path) in line and str(doctored / path.name) in line
    assert "test t2a mAP10" in line and "every copy left off" in line
    assert sorted(_board(tmp_path / "boards").index) == ["mean"]
    said = _leaderboard(capsys, tmp_path / "prefer", a, doctored, extra=("--prefer", str(a)))
    assert "used" in said and "(--prefer)" in said
    board = _board(tmp_path / "prefer")
    _, original = _record(a, "max", 0)
    assert board.loc["max", "t2a_R1_mean"] == pytest.approx(original["test"]["t2a"]["R1"])
    assert board.loc["max", "source"] == str(a)


def test_sources_given_wrong_are_one_line(labs, tmp_path, capsys) -> None:
    a, b, _ = labs
    for bundle in ("one.atrb.zip", "two.zip"):
        _bundle(capsys, a, tmp_path / bundle, "--name", "same")
    for sources, extra, said in (
        ((a, b), ("--prefer", "nosuch"), "--prefer nosuch: not one of the sources"),
        ((a, a.parent / ".." / a.parent.name / a.name), (), "given twice"),
        ((tmp_path / "one.atrb.zip", tmp_path / "two.zip"), (), "two sources are called 'same'"),
    ):
        args = ["leaderboard", "--out", str(tmp_path / "boards"), *extra]
        assert main([*args, *(f"--runs-dir={source}" for source in sources)]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and said in err, err
    assert not (tmp_path / "boards").exists()


def _bundle(capsys, runs: Path, out: Path, *extra: str) -> str:
    assert main(["bundle", "--runs-dir", str(runs), "--out", str(out), *extra]) == 0
    return capsys.readouterr().out


def test_a_bundle_round_trips(labs, tmp_path, capsys) -> None:
    a, b, _ = labs
    bundle = tmp_path / "lab-a.atrb.zip"
    said = _bundle(capsys, a, bundle)
    assert "2 runs (2 with per-query ranks)" in said and "source name lab-a" in said
    queries = ("--interval-method", "queries")  # intervals of single-seed rows: ranks travel
    _leaderboard(capsys, tmp_path / "folder", a, extra=queries)
    from_bundle = _leaderboard(capsys, tmp_path / "bundle", bundle, extra=queries)
    assert f"source bundle {bundle}, made " in from_bundle and "atr-bench bundle" in from_bundle
    folder, bundled = _board(tmp_path / "folder"), _board(tmp_path / "bundle")
    assert set(bundled["source"]) == {"lab-a"}
    assert bundled["t2a_R1_ci_low"].notna().all()
    pd.testing.assert_frame_equal(bundled.drop(columns="source"), folder)
    both = _leaderboard(capsys, tmp_path / "both", bundle, b)
    assert "1 run found in more than one source" in both
    assert _board(tmp_path / "both").loc["mean", "source"] == f"{b}; lab-a"
    hashes = [_record(a, pooling, 0)[1]["protocol_hash"][:8] for pooling in ("max", "mean")]
    assert main(["compare", *hashes, "--runs-dir", str(bundle), "--runs-dir", str(b)]) == 0
    compared = capsys.readouterr().out
    assert "A = max" in compared and ", from lab-a" in compared
    assert f"B = mean {hashes[1]} (seeds 0,1), from {b}, lab-a" in compared


def test_bundle_filters_and_refusals(labs, tmp_path, capsys) -> None:
    a, _, _ = labs
    out = tmp_path / "max.atrb.zip"
    _bundle(capsys, a, out, "--pooling", "max", "--name", "max-only")
    with zipfile.ZipFile(out) as archive:
        manifest = json.loads(archive.read(MANIFEST))
    (run_id,) = manifest["runs"]
    assert "-max-" in run_id and manifest["name"] == "max-only"
    assert manifest["command"].endswith("--pooling max")
    for args, said in (
        ([], "already there; pass --overwrite"),
        (["--hash", "ab", "--overwrite"], "--hash ab: give at least 4"),
        (["--dataset", "nosuch", "--overwrite"], "no usable run records match --dataset nosuch"),
        (["--name", "two words", "--overwrite"], "--name 'two words' is not a name"),
    ):
        assert main(["bundle", "--runs-dir", str(a), "--out", str(out), *args]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and said in err, err
    with zipfile.ZipFile(out) as archive:  # the refusals left the bundle as it was
        assert json.loads(archive.read(MANIFEST)) == manifest
