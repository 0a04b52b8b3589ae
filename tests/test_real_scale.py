"""Real-shape data and the scripts that measure whole runs on it: ``atr-bench data shaped``,
``benchmarks/real_scale.py`` and ``benchmarks/gpu_check.sh`` (run on the CPU at a tiny size)."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

from atr_bench.cli.main import main
from atr_bench.data.index import read_audiocaps_csv, read_clotho_json
from atr_bench.data.shaped import SHAPES, split_sizes

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_split_sizes_are_the_real_ones_or_a_fraction():
    assert split_sizes(SHAPES["audiocaps"]) == {"train": 49_838, "val": 495, "test": 975}
    assert split_sizes(SHAPES["clotho"], 0.5) == {"train": 1920, "val": 523, "test": 523}
    tiny = split_sizes(SHAPES["clotho"], 1e-6, train_clips=7)
    assert tiny == {"train": 7, "val": 2, "test": 2}


def test_shaped_clotho_has_the_extractors_shape_five_captions_and_w2v_tokens(tmp_path):
    assert main(["data", "shaped", "clotho", "--out", str(tmp_path), "--fraction", "0.002",
                 "--extractor", "vggish", "--no-progress"]) == 0  # fmt: skip
    root = tmp_path / "Clotho"
    clips = read_clotho_json(root / "Index" / "train.json")
    assert len(clips) == 8 and all(len(c.captions) == 5 for c in clips)
    with h5py.File(root / "AudioExpert" / "vggish" / "train" / "vggish.h5") as handle:
        shapes = [handle[c.clip_id].shape for c in clips]
        assert handle.attrs["weights"] == "random"  # runs on it are off the boards
    assert all(16 <= frames <= 31 and dim == 128 for frames, dim in shapes)  # Clotho: 31 frames
    text = pickle.loads((root / "TextEmbeddings" / "w2v_train.pkl").read_bytes())
    first = clips[0]
    assert [a.shape for a in text[first.clip_id]] == [(len(c.split()), 300) for c in first.captions]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


def test_shaped_refuses_an_existing_dataset_and_bad_sizes(tmp_path, capsys):
    (tmp_path / "AudioCaps").mkdir()
    assert main(["data", "shaped", "audiocaps", "--out", str(tmp_path)]) == 2
    assert "already exists; give another --out" in capsys.readouterr().err
    assert main(["data", "shaped", "clotho", "--out", str(tmp_path), "--fraction", "0"]) == 2
    assert "--fraction 0.0: expected a number in (0, 1]" in capsys.readouterr().err
    assert not (tmp_path / "Clotho").exists()


@pytest.mark.slow
def test_gpu_check_runs_on_the_cpu_at_a_tiny_size(tmp_path):
    env = {
        **os.environ,
        "DEVICE": "cpu",
        "FRACTION": "0.002",
        "EPOCHS": "1",
        "TESTS": "none",
        "BENCH": "--benchmarks pooling --pooling mean --shape audiocaps --dtype fp32",
        "REPORT": str(tmp_path / "report.md"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    work = tmp_path / "work"
    subprocess.run(["bash", str(BENCHMARKS / "gpu_check.sh"), str(work)], env=env, check=True)
    assert len(read_audiocaps_csv(work / "data" / "AudioCaps" / "Index" / "train.csv")) == 100
    assert "| mean " in (work / "pooling-throughput.md").read_text()
    results = {p.stem: json.loads(p.read_text()) for p in (work / "runs").glob("*.json")}
    assert set(results) == {"cpu-lou2022", "cpu-lou2022-tuned"}
    for result in results.values():
        assert result["peak_rss"] > 0 and result["wall"] > result["phases"]["train"] > 0
        assert result["data"]["splits"]["train"] == {
            "clips": 100, "max_frames": 31, "dim": 2048, "bytes": result["data"]["splits"]
            ["train"]["bytes"]}  # fmt: skip
    head = _git(BENCHMARKS.parent, "rev-parse", "--short=7", "HEAD")
    for result in results.values():  # the checkout that ran, as it was
        assert result["code"] in (head, f"{head}+modified")
    report = (tmp_path / "report.md").read_text()
    assert f"atr-bench at {results['cpu-lou2022']['code']}. Commands:" in report
    assert "## Runs on cpu" in report and "### AudioCaps 100 / 2 / 2 clips, 31 x 2048" in report
    assert "| atr-bench lou2022 | netrvlad | cpu | 1 |" in report
    assert "| atr-bench lou2022-tuned | netrvlad | cpu | 1 |" in report
    assert "Where a lou2022 epoch goes" in report and "| resume file |" in report
    assert json.loads((work / "epoch-parts.json").read_text())["settings"]["device"] == "cpu"


def test_gpu_check_out_of_time_names_every_stage_it_skipped_and_fails(tmp_path):
    env = {
        **os.environ,
        "DEVICE": "cpu",
        "TESTS": "none",
        "BUDGET": "1",  # less than the minute kept for the report: no stage may start
        "REPORT": str(tmp_path / "report.md"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    work = tmp_path / "work"
    done = subprocess.run(["bash", str(BENCHMARKS / "gpu_check.sh"), str(work)], env=env,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 1
    skipped = ["data", "run lou2022", "run lou2022-tuned", "epoch parts", "bench"]
    assert done.stderr.splitlines() == [f"did not finish: {s} (no time left)" for s in skipped]
    assert not (work / "data").exists() and not (tmp_path / "report.md").exists()


@pytest.mark.slow
def test_epoch_parts_times_every_part_of_the_harness_epoch(tmp_path):
    out = tmp_path / "parts.json"
    command = [sys.executable, str(BENCHMARKS / "epoch_parts.py"), "--fraction", "0.002",
               "--epochs", "2", "--json", str(out)]  # fmt: skip
    shown = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    result = json.loads(out.read_text())
    assert len(result["epochs"]) == 2 and result["batches"] == 1  # 100 clips, batches of 128
    for epoch in result["epochs"]:
        assert epoch["steps"] > 0 and epoch["validation"] > 0 and epoch["resume file"] > 0
    assert result["steps back to back"] > 0
    assert "| resume file |" in shown and "1 steps back to back" in shown


def _git(where: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(where), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_a_run_names_the_commit_of_the_checkout_and_whether_it_was_modified(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from real_scale import checkout_commit

    assert checkout_commit(tmp_path) is None  # not a checkout: an installed package
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "new.py").write_text("y = 2\n")  # untracked: not part of the code that ran
    _git(tmp_path, "add", "a.py")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    head = _git(tmp_path, "rev-parse", "--short=7", "HEAD")
    assert checkout_commit(tmp_path) == head
    (tmp_path / "a.py").write_text("x = 3\n")
    assert checkout_commit(tmp_path) == f"{head}+modified"
