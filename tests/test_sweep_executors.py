"""`atr-bench sweep --executor slurm|ray` against a real one-node Slurm cluster and a real
local Ray cluster: the records equal a local sweep's, a second submission does no work, a
killed worker's run is recovered, and ``--status`` tells where each run stands."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import slurm_cluster

from atr_bench.cli.main import main
from atr_bench.record.claims import Claim, read_claim
from atr_bench.record.results import read_records
from atr_bench.report.aggregate import aggregate

pytestmark = pytest.mark.slow

CLI = str(Path(sys.executable).with_name("atr-bench"))
GRID = ("--pooling", "mean,max", "--seeds", "0,1", "--threads", "1")


def _unavailable(reason: str) -> None:
    """CI must run these tests; elsewhere a missing engine skips them."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    """A one-node Slurm cluster for the session; SLURM_CONF points the clients at it."""
    reason = slurm_cluster.missing()
    if reason:
        _unavailable(reason)
    cluster = slurm_cluster.start(tmp_path_factory.mktemp("slurm"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SLURM_CONF", str(cluster.conf))
        try:
            yield cluster
        finally:
            slurm_cluster.stop(cluster)


@pytest.fixture(scope="session")
def ray_address():
    """A local Ray cluster of 2 CPUs (``ray start --head``) for the session, ended with its
    whole process group."""
    ray_cli = Path(sys.executable).with_name("ray")
    if not ray_cli.exists():
        _unavailable("ray is not installed (pip install -e '.[test]')")
    temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths grow
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(Path(temp) / "head.log", "w")  # noqa: SIM115 (closed below)
    patch = pytest.MonkeyPatch()
    patch.setenv("RAY_AUTH_MODE", "disabled")  # a loopback test cluster; no token in ~/.ray
    head = subprocess.Popen(
        [ray_cli, "start", "--head", "--block", f"--port={port}", "--num-cpus=2",
         "--num-gpus=0", f"--temp-dir={temp}", "--include-dashboard=false",
         "--disable-usage-stats", "--object-store-memory=200000000"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while "Ray runtime started" not in (Path(temp) / "head.log").read_text():
            assert head.poll() is None, (Path(temp) / "head.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the Ray head did not start in 3 minutes"
            time.sleep(1)
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            head.wait(timeout=60)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)  # what SIGTERM left of the group
        head.wait()
        log.close()
        patch.undo()


def _args(tiny_args, data: Path, runs: Path, *extra: str) -> list[str]:
    args = tiny_args(data, runs, "--epochs", "1", *GRID, *extra)
    args[0] = "sweep"
    return args


def _results(runs: Path) -> dict[str, dict]:
    """Run id -> test metrics of every record."""
    return {
        (r := json.loads(p.read_text()))["run_id"]: r["test"] for p in sorted(runs.glob("*.json"))
    }


def _mtimes(runs: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in runs.glob("*.json")}


def _board(runs: Path) -> list[tuple]:
    """The leaderboard rows of a runs folder: components, seeds and every measured metric's
    mean and std over seeds (not the cost columns: seconds differ between machines)."""
    records, problems = read_records(runs)
    assert not problems
    return [
        (row.keys, row.seeds, {k: s for k, s in row.stats.items() if s.n})
        for row in aggregate(records)
    ]


@pytest.fixture(scope="module")
def local_runs(tiny_data, tiny_args, tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("local-runs")
    assert main(_args(tiny_args, tiny_data, runs)) == 0
    return runs


@pytest.fixture(scope="module")
def local_results(local_runs) -> dict[str, dict]:
    results = _results(local_runs)
    assert len(results) == 4
    return results


def _sweep(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=900)


def _status(args: list[str]) -> str:
    out = _sweep([*args, "--status"])
    assert out.returncode == 0, out.stderr
    return out.stdout


def _like_local_and_done(
    args: list[str], runs: Path, local_results: dict, local_runs: Path, submitted: str
) -> None:
    """The records and leaderboard rows equal the local sweep's; a second submission sends
    nothing (no ``submitted`` line), touches no record, and ``--status`` says all 4 are done."""
    assert _results(runs) == local_results
    assert _board(runs) == _board(local_runs)  # the same leaderboard rows
    before = _mtimes(runs)
    again = _sweep(args)
    assert again.returncode == 0, again.stderr
    assert "0 runs done, 4 already done (skipped), 0 failed" in again.stdout
    assert submitted not in again.stderr
    assert _mtimes(runs) == before
    assert "4 runs: 4 done, 0 claimed/running, 0 failed, 0 not started" in _status(args)


def _first_claim(runs: Path, sweep: subprocess.Popen) -> tuple[Path, Claim]:
    """The first claim a worker of ``sweep`` takes."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and sweep.poll() is None:
        for path in runs.glob("*.claim"):
            claim = read_claim(path)
            if claim is not None:
                return path, claim
        time.sleep(0.05)
    raise AssertionError(f"no run was claimed: {sweep.communicate()}")


def _kill_first_claimant(runs: Path, sweep: subprocess.Popen) -> Path:
    """SIGKILL the first worker that claims a run, mid-run."""
    path, claim = _first_claim(runs, sweep)
    os.kill(claim.owner.pid, signal.SIGKILL)
    return path


def test_slurm_two_sweeps_at_once_do_each_run_once_like_a_local_sweep(
    slurm, tiny_data, tiny_args, local_results, local_runs, tmp_path
) -> None:
    runs = tmp_path / "runs"
    args = _args(tiny_args, tiny_data, runs, "--executor", "slurm")
    both = [subprocess.Popen([CLI, *args], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=900)[0] for p in both]
    assert [p.returncode for p in both] == [0, 0], outs
    done = [int(out.split(" runs done")[0].split()[-1]) for out in outs]
    assert sum(done) == 4, outs  # every run once, between the two sweeps
    _like_local_and_done(args, runs, local_results, local_runs, "submitted Slurm job array")


def test_slurm_a_killed_task_fails_and_a_resubmission_recovers_it(
    slurm, tiny_data, tiny_args, local_results, tmp_path
) -> None:
    runs = tmp_path / "runs"
    args = _args(tiny_args, tiny_data, runs, "--executor", "slurm")
    sweep = subprocess.Popen([CLI, *args], stdout=subprocess.PIPE, text=True)
    killed = _kill_first_claimant(runs, sweep)
    out = sweep.communicate(timeout=900)[0]
    assert sweep.returncode == 1, out
    assert "3 runs done, 0 already done (skipped), 1 failed" in out
    assert "ended without a result" in out
    status = _status(args)
    assert "4 runs: 3 done, 0 claimed/running, 1 failed, 0 not started" in status
    assert "ended without a result" in status
    assert killed.exists()  # the dead worker's claim, left behind
    again = _sweep(args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "1 runs done, 3 already done (skipped), 0 failed" in again.stdout
    assert _results(runs) == local_results
    assert not killed.exists()
    assert "4 runs: 4 done" in _status(args)


def test_slurm_a_preempted_task_is_requeued_and_resumes(
    slurm, tiny_data, tiny_args, local_results, tmp_path
) -> None:
    runs = tmp_path / "runs"
    one = ("--pooling", "mean", "--seeds", "0")
    args = _args(tiny_args, tiny_data, runs, "--executor", "slurm", *one)
    sweep = subprocess.Popen([CLI, *args], stdout=subprocess.PIPE, text=True)
    _, claim = _first_claim(runs, sweep)
    slurm.command("scancel", "--signal", "USR2", claim.owner.slurm_task)  # as before preemption
    out = sweep.communicate(timeout=900)[0]
    assert sweep.returncode == 0, out
    assert "1 runs done, 0 already done (skipped), 0 failed" in out
    logs = "".join(p.read_text() for p in (runs / "slurm").glob("*_log.*"))
    assert "this job is preempted" in logs and "Requeued" in logs
    assert _results(runs).items() <= local_results.items()


def test_ray_sweep_recovers_a_killed_worker_and_equals_a_local_sweep(
    ray_address, tiny_data, tiny_args, local_results, local_runs, tmp_path
) -> None:
    runs = tmp_path / "runs"
    args = _args(tiny_args, tiny_data, runs, "--executor", "ray", "--ray-address", ray_address)
    sweep = subprocess.Popen([CLI, *args], stdout=subprocess.PIPE, text=True)
    _kill_first_claimant(runs, sweep)
    out = sweep.communicate(timeout=900)[0]
    assert sweep.returncode == 0, out
    assert "4 runs done, 0 already done (skipped), 0 failed" in out  # Ray retried the task
    _like_local_and_done(args, runs, local_results, local_runs, "runs to Ray")


def test_ray_starts_a_local_cluster_when_given_no_address(
    tiny_data, tiny_args, local_results, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # else Ray writes a token to ~/.ray
    runs = tmp_path / "runs"
    args = _args(tiny_args, tiny_data, runs, "--executor", "ray", "--ray-local-cpus", "2")
    out = _sweep([*args, "--pooling", "mean", "--seeds", "0"])
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 runs done" in out.stdout
    only = _results(runs)
    assert only.items() <= local_results.items()
