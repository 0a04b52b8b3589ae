"""Names never become paths outside their folder; bad numbers on the command line are one-line
errors; written files follow the user's umask."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from atr_bench.cli.main import main
from atr_bench.data.index import ClipCaptions, write_clotho_json
from atr_bench.errors import AtrBenchError
from atr_bench.files.atomic import write_json
from atr_bench.files.names import inside
from atr_bench.plugins import registry as plugins
from atr_bench.record.results import record_path
from atr_bench.report.leaderboard import build_leaderboards

ESCAPING = """
from atr_bench import PoolingSpec, hookimpl
from atr_bench.components.poolings.simple import MeanPooling


@hookimpl
def atr_bench_poolings():
    return [
        PoolingSpec(name="../../../../../outside/x", description="escapes", build=MeanPooling),
        PoolingSpec(name="fine_mean", description="fine", build=MeanPooling),
    ]
"""


def _tree(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def test_a_plugin_name_that_is_a_path_is_refused_at_registration(
    tmp_path, capsys, tiny_data, tiny_args, loose_plugins
):
    loose_plugins("escaper", ESCAPING)
    runs = tmp_path / "deep" / "a" / "b" / "runs"
    before = _tree(tmp_path)
    assert main(["list"]) == 0
    err = capsys.readouterr().err
    assert "plugin 'escaper' not loaded: atr_bench_poolings() returned the pooling name" in err
    args = tiny_args(tiny_data, runs, "--pooling", "../../../../../outside/x", "--epochs", "1")
    assert main(args) == 2
    assert "which is not a name" in capsys.readouterr().err  # refused at load, and why
    assert main(tiny_args(tiny_data, runs, "--pooling", "fine_mean", "--epochs", "1")) == 0
    created = _tree(tmp_path) - before
    assert all(runs in p.parents or p in runs.parents or p == runs for p in created)


def _record(dataset: object) -> dict:
    metrics = {"R1": 10.0, "R5": 20.0, "R10": 30.0, "mAP10": 5.0, "MedR": 9.0}
    return {
        "schema": 1,
        "run_id": "r",
        "dataset": dataset,
        "extractor": "lms",
        "pooling": "mean",
        "seed": 0,
        "protocol_hash": "h",
        "test": {"t2a": metrics, "a2t": metrics},
    }


def test_a_record_whose_dataset_is_a_path_is_skipped_and_nothing_leaves_out(tmp_path):
    runs, out = tmp_path / "E" / "runs", tmp_path / "E" / "lb"
    write_json(runs / "bad.json", _record("../../../../outside/X"))
    write_json(runs / "good.json", _record("synthcaps"))
    report = build_leaderboards(runs, out, command="x")
    assert report.boards == {"synthcaps-pairs": 1}
    assert any("not a name" in p.reason for p in report.problems)
    assert (
        sorted(p.parent for p in tmp_path.rglob("*") if p.is_file()) == [out] * 6 + [runs] * 2
    )  # md, csv + provenance, tex, png, html
    with pytest.raises(AtrBenchError, match=r"--dataset '\.\./x' is not a name"):
        build_leaderboards(runs, out, datasets=["../x"])


def test_paths_from_names_stay_in_their_folder(tmp_path):
    with pytest.raises(AtrBenchError, match="not a name"):
        record_path(tmp_path, "../../x")
    with pytest.raises(AtrBenchError, match="outside"):
        inside(tmp_path, "../x.md")
    assert inside(tmp_path, "a.md") == tmp_path / "a.md"


@pytest.mark.parametrize("clip_id", ["../x", "a/b", ".."])
def test_a_clip_id_that_is_a_path_is_refused(tmp_path, clip_id):
    with pytest.raises(AtrBenchError, match="path separator"):
        write_clotho_json(tmp_path / "i.json", [ClipCaptions(clip_id, ("a caption",))])


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--seeds", "-1", "not in 0.."),
        ("--seeds", "99999999999999999999", "not in 0.."),
        ("--lr", "nan", "--lr nan: must be a finite number"),
        ("--lr", "-1", "--lr -1.0: must be > 0"),
        ("--gamma", "-1", "in (0, 1]"),
        ("--margin", "-1", ">= 0"),
        ("--batch-size", "1", ">= 2"),
    ],
)
def test_bad_numbers_are_one_line_errors(tmp_path, capsys, flag, value, says):
    argv = ["run", flag, value, "--data-root", str(tmp_path / "d"), "--no-progress"]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own error for a flag's type
        code = exc.code
    assert code == 2 and says in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_json(tmp_path / "r.json", {"a": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert json.loads(path.read_text()) == {"a": 1}


def test_runs_dir_or_data_root_that_is_a_file_is_found_before_training(
    tmp_path, capsys, tiny_data, tiny_args
):
    a_file = tmp_path / "file"
    a_file.write_text("not a folder")
    assert main(tiny_args(tiny_data, a_file, "--pooling", "mean")) == 2
    assert "--runs-dir" in capsys.readouterr().err and a_file.read_text() == "not a folder"
    args = tiny_args(a_file, tmp_path / "runs", "--pooling", "mean")
    assert main(args) == 2
    assert "--data-root" in capsys.readouterr().err


def test_a_garbage_resume_file_is_one_line_that_says_what_deleting_it_does(
    tmp_path, capsys, tiny_data, tiny_args
):
    runs = tmp_path / "runs"
    args = tiny_args(tiny_data, runs, "--pooling", "mean", "--epochs", "1")
    assert main(args) == 0
    (record,) = [p for p in runs.glob("*.json")]
    record.unlink()
    resume = runs / "checkpoints" / f"{record.stem}.resume.pt"
    resume.write_bytes(b"\x80\x04garbage")
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(args) == 2
    assert not [w for w in caught if "pickle protocol" in str(w.message)]  # torch's, kept off
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a resume file of this run" in err
    assert "the run starts from epoch 0" in err and resume.exists()


def test_a_plugin_filter_name_that_matches_nothing_is_reported(monkeypatch):
    monkeypatch.setenv(plugins.ENV_FILTER, "nosuchplugin")
    failures = plugins.load_registry().failures
    assert [f.plugin for f in failures] == ["nosuchplugin"]
    assert "no installed plugin has it" in failures[0].reason


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"test": []}, "no test metrics"),
        ({"seed": "zero"}, "seed"),
        ({"dataset": 7}, "dataset is not a string"),
        ({"untrained": "no"}, "untrained has the wrong type"),
        ({"test": {"t2a": {"R1": float("nan")}, "a2t": {}}}, "not a finite number"),
        ({"test": {"t2a": {"R1": -3.0}, "a2t": {}}}, "out of range"),
    ],
)
def test_a_bad_record_is_skipped_with_its_reason_and_the_rest_make_boards(tmp_path, change, says):
    runs, out = tmp_path / "runs", tmp_path / "lb"
    write_json(runs / "good.json", _record("synthcaps"))
    write_json(runs / "bad.json", {**_record("synthcaps"), **change})
    report = build_leaderboards(runs, out, command="x")
    assert report.boards == {"synthcaps-pairs": 1}
    ((problem),) = report.problems
    assert problem.path.name == "bad.json" and says in problem.reason


def test_a_deeply_nested_record_is_unreadable_not_a_crash(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    write_json(runs / "good.json", _record("synthcaps"))
    report = build_leaderboards(runs, tmp_path / "lb", command="x")
    assert report.boards == {"synthcaps-pairs": 1}
    assert "unreadable run record" in report.problems[0].reason


def test_leaderboard_of_a_dataset_nobody_ran_is_an_error(tmp_path, capsys):
    runs = tmp_path / "runs"
    write_json(runs / "good.json", _record("synthcaps"))
    assert (
        main(
            [
                "leaderboard",
                "--runs-dir",
                str(runs),
                "--out",
                str(tmp_path / "lb"),
                "--dataset",
                "nosuch",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "--dataset nosuch: no run records" in err and "synthcaps" in err
    assert not (tmp_path / "lb").exists()


def test_a_bar_or_line_break_in_a_setting_cannot_break_the_markdown_table(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "lb"
    write_json(runs / "r.json", {**_record("synthcaps"), "settings": {"note": "a|b\nc"}})
    build_leaderboards(runs, out, command="x", formats=("md",))
    (row,) = [
        line
        for line in (out / "synthcaps-pairs.md").read_text().splitlines()
        if line.startswith("| lms")
    ]
    assert "note=a\\|b c" in row


def test_weights_other_than_the_features_were_made_with_are_refused(tmp_path, capsys):
    data, runs = tmp_path / "data", tmp_path / "runs"
    args = ["run", "--data-root", str(data), "--runs-dir", str(runs), "--no-progress"]
    for option in ("train=4", "val=4", "test=4", "order_pairs=0", "duration=1.0"):
        args += ["--dataset-opt", option]
    args += ["--extractor", "panns_cnn10", "--pooling", "mean", "--epochs", "1"]
    assert main([*args, "--weights", "random"]) == 0
    assert "untrained: these features come from random weights" in capsys.readouterr().out
    checkpoint = tmp_path / "Cnn10.pth"
    checkpoint.write_bytes(b"some other network")
    capsys.readouterr()
    assert main([*args, "--weights", str(checkpoint), "--force"]) == 2
    err = capsys.readouterr().err
    assert "made with weights 'random', not 'Cnn10.pth sha256:" in err and "drop --weights" in err


class _NotATensor:
    pass


def test_torch_advice_to_unpickle_a_checkpoint_is_never_passed_on(tmp_path):
    import torch

    from atr_bench.data.extraction.weights import read_checkpoint

    path = tmp_path / "Cnn14.pth"
    torch.save({"model": _NotATensor()}, path)
    with pytest.raises(AtrBenchError) as caught:
        read_checkpoint(path, "panns_cnn14")
    message = str(caught.value)
    assert "never unpickled here" in message and "weights_only=False" not in message
    assert "False" not in message and len(message.splitlines()) == 1


@pytest.fixture
def small_disk(tmp_path):
    """``mount(size)``: a folder on a tmpfs of ``size`` (e.g. "1m"), unmounted at the end;
    the test is skipped where this process may not mount one."""

    mounted = []

    def mount(size: str) -> Path:
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=False)


SMALL = ["train=150", "val=40", "test=40", "order_pairs=5", "duration=2"]


def _small_run(data: Path, runs: Path) -> list[str]:
    args = ["run", "--data-root", str(data), "--runs-dir", str(runs), "--no-progress"]
    for option in SMALL:
        args += ["--dataset-opt", option]
    return [*args, "--threads", "1", "--epochs", "1", "--pooling", "mean"]


def test_a_full_data_disk_is_one_line_and_leaves_no_temp_file(small_disk, tmp_path, capsys):
    data = small_disk("2m")
    assert main(_small_run(data, tmp_path / "runs")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "the disk is full" in err
    assert not [p for p in data.rglob("*") if ".tmp" in p.name]


def test_a_full_runs_disk_is_one_line_and_loses_no_record(small_disk, tmp_path, capsys):
    runs = small_disk("1m")
    data = tmp_path / "data"
    assert main(_small_run(data, tmp_path / "roomy")) == 0  # the features, on a roomy disk
    capsys.readouterr()
    assert main(_small_run(data, runs)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "the disk is full" in err
    assert not [p for p in runs.rglob("*") if ".tmp" in p.name]
    (kept,) = (tmp_path / "roomy").glob("*.json")
    assert json.loads(kept.read_text())["pooling"] == "mean"


def test_two_runs_that_need_the_same_new_features_take_turns(tmp_path):
    """Started together in an empty folder, both runs succeed: the second waits while the first
    writes the features, instead of failing on a locked HDF5 file."""

    data = tmp_path / "data"
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "atr_bench.cli.main", *_small_run(data, tmp_path / f"runs{i}")],
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    errors = [run.communicate(timeout=600)[1] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], errors
    paths = [p for i in range(2) for p in (tmp_path / f"runs{i}").glob("*.json")]
    records = [json.loads(p.read_text()) for p in paths]
    assert len(records) == 2 and records[0]["test"] == records[1]["test"]


def test_leaderboard_out_that_is_a_file_is_one_line(tmp_path, capsys):
    runs = tmp_path / "runs"
    write_json(runs / "good.json", _record("synthcaps"))
    a_file = tmp_path / "boards"
    a_file.write_text("mine")
    assert main(["leaderboard", "--runs-dir", str(runs), "--out", str(a_file)]) == 2
    assert "--out" in capsys.readouterr().err and a_file.read_text() == "mine"


def test_a_full_stdout_is_one_line_and_empty_paths_are_refused(tmp_path):
    """Output into a full device is one line on stderr; an empty --runs-dir or
    $ATR_BENCH_DATA would silently mean the current folder, so both are refused."""
    import os

    command = [sys.executable, "-m", "atr_bench.cli.main"]
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [*command, "list"], stdout=full, stderr=subprocess.PIPE, text=True, timeout=120
        )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert (
        done.stderr.strip() == "atr-bench: error: cannot write the output (No space left on device)"
    )
    env = {**os.environ, "ATR_BENCH_DATA": ""}
    done = subprocess.run(
        [*command, "run", "--runs-dir", str(tmp_path / "runs")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and "$ATR_BENCH_DATA: empty path" in done.stderr
    done = subprocess.run(
        [*command, "leaderboard", "--runs-dir", ""], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and "--runs-dir: empty path" in done.stderr
    assert list(tmp_path.iterdir()) == []
