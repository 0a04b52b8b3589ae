"""`atr-bench sweep` and `atr-bench leaderboard` as a user runs them: the grid is run once,
re-running does no work twice, failures are listed without stopping the rest, and a corrupt
record is reported and skipped when the tables are built."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from atr_bench.cli.main import main


def _sweep_args(tiny_args, data: Path, runs: Path, poolings: str, *extra: str) -> list[str]:
    args = tiny_args(data, runs, "--epochs", "1", *extra)
    args[0] = "sweep"
    return [*args, "--pooling", poolings]


def _records(runs: Path) -> dict[str, float]:
    """Record file name -> modification time."""
    return {p.name: p.stat().st_mtime_ns for p in runs.glob("*.json")}


@pytest.fixture
def swept(tiny_data, tmp_path, tiny_args, capsys) -> Path:
    """A finished sweep of two poolings x two seeds, plus one unknown pooling."""
    runs = tmp_path / "runs"
    args = _sweep_args(tiny_args, tiny_data, runs, "mean,max,nosuch", "--seeds", "0,1")
    assert main(args) == 1  # one configuration failed
    out = capsys.readouterr().out
    assert "4 runs done, 0 already done (skipped), 1 failed" in out
    assert "FAILED synthcaps/lms/nosuch" in out and "unknown pooling 'nosuch'" in out
    return runs


def test_sweep_runs_the_grid_and_a_rerun_does_no_work_twice(
    swept, tiny_data, tiny_args, capsys
) -> None:
    before = _records(swept)
    assert len(before) == 4
    poolings = {json.loads((swept / n).read_text())["pooling"] for n in before}
    assert poolings == {"mean", "max"}
    args = _sweep_args(tiny_args, tiny_data, swept, "mean,max", "--seeds", "0,1")
    assert main(args) == 0
    assert "0 runs done, 4 already done (skipped), 0 failed" in capsys.readouterr().out
    assert _records(swept) == before


@pytest.mark.slow
def test_sweep_in_parallel_processes(tiny_data, tmp_path, tiny_args, capsys) -> None:
    runs = tmp_path / "runs"
    args = _sweep_args(tiny_args, tiny_data, runs, "mean,max", "--jobs", "2")
    assert main(args) == 0
    assert "2 runs done" in capsys.readouterr().out
    assert len(_records(runs)) == 2


def test_leaderboard_skips_a_corrupt_record(swept, tmp_path, capsys) -> None:
    (swept / "broken.json").write_text('{"schema": 1, "test": ', encoding="utf-8")
    out_dir = tmp_path / "boards"
    command = "atr-bench sweep --pooling mean,max --seeds 0,1 && atr-bench leaderboard"
    args = ["leaderboard", "--runs-dir", str(swept), "--out", str(out_dir), "--include-smoke"]
    assert main([*args, "--command", command]) == 0
    out = capsys.readouterr().out
    assert "4 run records used" in out
    assert "broken.json" in out and "unreadable run record" in out
    (stem,) = {p.stem for p in out_dir.glob("synthcaps-lou2022-tuned-test-*-smoke.md")}
    markdown = (out_dir / f"{stem}.md").read_text()
    assert (
        markdown.splitlines()[0]
        == f"<!-- reproduce with: {command} | " + markdown.split(" | ", 1)[1].splitlines()[0]
    )
    table = pd.read_csv(out_dir / f"{stem}.csv", comment="#")
    assert sorted(table["pooling"]) == ["max", "mean"]
    assert set(table["seeds"].astype(str)) == {"2"}
    assert (out_dir / f"{stem}.png").stat().st_size > 0


def test_leaderboard_latex_only_for_one_dataset(swept, tmp_path, capsys) -> None:
    out_dir = tmp_path / "boards"
    args = ["leaderboard", "--runs-dir", str(swept), "--out", str(out_dir)]
    assert main([*args, "--dataset", "synthcaps", "--format", "tex", "--include-smoke"]) == 0
    (tex,) = out_dir.iterdir()
    assert tex.name.startswith("synthcaps-lou2022-tuned-test-") and tex.suffix == ".tex"
    assert "\\begin{tabular}" in tex.read_text()


def test_leaderboard_with_an_unknown_format_is_a_one_line_error(swept, tmp_path, capsys) -> None:
    args = ["leaderboard", "--runs-dir", str(swept), "--out", str(tmp_path / "b")]
    assert main([*args, "--format", "docx"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "docx" in err and "md,csv,tex,png" in err


def _children(pid: int) -> set[int]:
    """PIDs whose parent is ``pid`` (from /proc)."""
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_workers_of_a_killed_sweep_do_not_live_on(tiny_data, tmp_path, tiny_args) -> None:
    """``kill -9`` of a ``sweep --jobs 2`` takes its worker processes with it."""
    import signal
    import subprocess
    import sys
    import time

    runs = tmp_path / "runs"
    args = _sweep_args(tiny_args, tiny_data, runs, "mean,max", "--jobs", "2", "--epochs", "5000")
    sweep = subprocess.Popen([sys.executable, "-m", "atr_bench.cli.main", *args])
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        training = runs / "checkpoints"
        while len(list(training.glob("*.resume.pt"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)  # until both workers are training (each has saved an epoch)
        workers = {p for p in _children(sweep.pid) if "spawn_main" in _cmdline(p)}
        assert len(workers) >= 2, "the sweep has no two workers training"
        sweep.send_signal(signal.SIGKILL)
        sweep.wait()
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(p) for p in workers)
    finally:  # whatever happened, nothing this test started lives on
        sweep.kill()
        sweep.wait()
        for pid in workers | _children(sweep.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def test_sweep_crosses_protocols(tiny_data, tmp_path, tiny_args, capsys) -> None:
    runs = tmp_path / "runs"
    args = _sweep_args(tiny_args, tiny_data, runs, "mean", "--protocol", "pairs,lou2022-masked")
    assert main(args) == 0
    assert "2 runs done" in capsys.readouterr().out
    protocols = {json.loads(p.read_text())["protocol"]["name"] for p in runs.glob("*.json")}
    assert protocols == {"pairs", "lou2022-masked"}
