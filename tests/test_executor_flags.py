"""`atr-bench sweep`'s executor flags: out-of-range values get one line naming the flag (exit
2) before anything runs, and `--status` of a grid never run says that nothing started."""

from __future__ import annotations

import pytest

from atr_bench.cli.main import main


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--executor", "slurm", "--slurm-cpus-per-task", "0"], "--slurm-cpus-per-task 0"),
        (["--executor", "slurm", "--slurm-time", "0"], "--slurm-time 0"),
        (["--executor", "ray", "--ray-cpus", "0"], "--ray-cpus 0"),
        (["--claim-ttl", "0"], "--claim-ttl 0"),
        (["--claim-ttl", "inf"], "--claim-ttl inf"),
        (["--claim-ttl", "nan"], "--claim-ttl nan"),
        (["--executor", "slurm", "--slurm-mem", "16G\nrm -rf ~"], "--slurm-mem '16G\\nrm"),
        (["--executor", "slurm", "--slurm-partition", "gpu\r\necho x"], "--slurm-partition"),
        (["--executor", "slurm", "--slurm-sbatch", "qos=high\necho x"], "--slurm-sbatch qos"),
        (["--executor", "slurm", "--slurm-sbatch", "q;rm=1"], "not an sbatch flag name"),
        (["--executor", "ray", "--ray-address", "127.0.0.1:1"], "nothing answers there"),
        (["--executor", "ray", "--ray-address", "no-port"], "expected HOST:PORT"),
    ],
)
def test_bad_executor_flags_are_one_line_errors(flags, named, tmp_path, capsys) -> None:
    assert main(["sweep", "--runs-dir", str(tmp_path / "runs"), *flags]) == 2
    err = capsys.readouterr().err
    assert named in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_a_bad_sbatch_flag_is_refused(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["sweep", "--runs-dir", str(tmp_path), "--slurm-sbatch", "=high"])
    assert exit_.value.code == 2
    assert "expected NAME=VALUE" in capsys.readouterr().err


def test_status_of_a_grid_never_run(tmp_path, capsys) -> None:
    runs = tmp_path / "runs"
    args = ["sweep", "--status", "--runs-dir", str(runs), "--data-root", str(tmp_path / "data")]
    assert main([*args, "--pooling", "mean,nosuch", "--seeds", "0,1"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "3 runs: 0 done, 0 claimed/running, 1 failed, 2 not started"
    assert "FAILED synthcaps/lms/nosuch" in out and "unknown pooling 'nosuch'" in out
    assert "NOT STARTED synthcaps/lms/mean/word2vec seed 1" in out
    assert not runs.exists()
