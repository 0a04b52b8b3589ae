"""Outputs go where the user says: in a real git checkout, ``leaderboard`` and ``bench`` write to
``--out`` or to a new folder that git ignores, never over an existing file (a committed board
least of all) without ``--overwrite``, and say every file they wrote."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from test_bench import report_json, result

from atr_bench.cli.main import main
from atr_bench.files.atomic import write_json
from atr_bench.record.run_record import SCHEMA_VERSION


def _git(repo: Path, *args: str) -> str:
    command = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, check=True, timeout=60
    ).stdout


def _record(pooling: str, seed: int) -> dict:
    metrics = {"R1": 10.0 + seed, "R5": 20.0, "R10": 30.0, "mAP10": 5.0, "MedR": 9.0}
    curve = [{"epoch": 1, "loss": 1.0, "val": {"t2a": {"R1": 5.0, "geo": 5.0}, "a2t": {}}}]
    return {
        "schema": SCHEMA_VERSION,
        "run_id": f"synthcaps-lms-{pooling}-h-s{seed}",
        "dataset": "synthcaps",
        "extractor": "lms",
        "pooling": pooling,
        "seed": seed,
        "protocol_hash": f"{pooling}hash0000",
        "val_curve": curve,
        "test": {"t2a": metrics, "a2t": metrics},
    }


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean clone-like repository, the current folder: a committed board in
    ``leaderboards/``, run records in the ignored ``runs/``."""
    if shutil.which("git") is None:
        if os.environ.get("CI"):
            pytest.fail("git is not installed")
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / ".gitignore").write_text("/runs/\n.benchmarks/\n")
    for pooling in ("mean", "max"):
        for seed in (0, 1):
            record = _record(pooling, seed)
            write_json(repo / "runs" / f"{record['run_id']}.json", record)
    (repo / "leaderboards").mkdir()
    (repo / "leaderboards" / "synthcaps-pairs.md").write_text("the committed board\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "a checkout")
    monkeypatch.chdir(repo)
    return repo


def test_a_tracked_board_is_not_replaced_without_overwrite(checkout: Path, capsys) -> None:
    board = checkout / "leaderboards" / "synthcaps-pairs.md"
    assert main(["leaderboard", "--out", "leaderboards"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "leaderboards/synthcaps-pairs.md: already there (a file tracked by git)" in err
    assert "--overwrite" in err
    assert board.read_text() == "the committed board\n"
    assert sorted(p.name for p in board.parent.iterdir()) == [board.name]  # nothing written
    assert _git(checkout, "status", "--porcelain") == ""

    assert main(["leaderboard", "--out", "leaderboards", "--overwrite"]) == 0
    out = capsys.readouterr().out
    assert "# Leaderboard: synthcaps, protocol pairs@1" in board.read_text()
    written = sorted(p.name for p in board.parent.iterdir())
    listed = out.splitlines()[0].split("{")[1].rstrip("}").split(",")
    assert sorted(listed) == written  # every file written is named, the curves included
    assert "synthcaps-pairs-curves.png" in written and "synthcaps-pairs.provenance.json" in written
    assert _git(checkout, "status", "--porcelain").startswith(" M leaderboards/synthcaps-pairs.md")


def test_the_default_output_is_a_new_folder_git_ignores(checkout: Path, capsys) -> None:
    assert main(["leaderboard"]) == 0
    out = capsys.readouterr().out
    (made,) = [p for p in checkout.iterdir() if p.name.startswith("leaderboard-")]
    assert (made / "synthcaps-pairs.md").exists() and (made / ".gitignore").read_text()
    assert f"-> {made.name}/{{" in out and f"also wrote {made.name}/.gitignore" in out
    assert _git(checkout, "status", "--porcelain", "--untracked-files=all") == ""
    assert (checkout / "leaderboards" / "synthcaps-pairs.md").read_text() == "the committed board\n"
    assert main(["leaderboard"]) == 0  # a second one: another new folder
    assert len([p for p in checkout.iterdir() if p.name.startswith("leaderboard-")]) == 2
    assert _git(checkout, "status", "--porcelain", "--untracked-files=all") == ""


def test_bench_writes_to_its_own_folder_and_replaces_nothing_unasked(
    checkout: Path, tmp_path: Path, capsys
) -> None:
    report = report_json(tmp_path, result("mean", "registered", "text", 10.0))
    summarise = ["bench", "--benchmarks", "pooling", "--from-json", "--json", str(report)]
    assert main(summarise) == 0
    (made,) = [p for p in checkout.iterdir() if p.name.startswith("bench-")]
    assert sorted(p.name for p in made.iterdir()) == [".gitignore", "pooling-throughput.md"]
    assert f"wrote {made.name}/pooling-throughput.md" in capsys.readouterr().out
    assert _git(checkout, "status", "--porcelain", "--untracked-files=all") == ""
    assert main([*summarise, "--out", str(made)]) == 2
    err = capsys.readouterr().err
    assert "pooling-throughput.md: already there" in err and "--overwrite" in err
    assert main([*summarise, "--out", str(made), "--overwrite"]) == 0
