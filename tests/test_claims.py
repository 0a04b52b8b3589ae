"""Claims: of several processes that claim one run at once exactly one gets it, a live claim
is respected, a dead owner's claim (silent past its time to live, or a gone process of this
host) is taken over, and the holder's heartbeat keeps it alive."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from atr_bench.errors import AtrBenchError
from atr_bench.record.claims import Owner, claim_path, holding, read_claim, renew, try_claim
from atr_bench.run.status import run_state
from atr_bench.run.task import BUSY, DONE, FAILED, run_claimed


def _race(path: str, start: float, queue) -> None:
    time.sleep(max(0.0, start - time.time()))
    queue.put(try_claim(Path(path), Owner.here(), ttl=60) is None)


@pytest.mark.slow
def test_of_processes_claiming_at_once_exactly_one_wins(tmp_path) -> None:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    start = time.time() + 2.0  # all spawned and waiting by then
    path = str(claim_path(tmp_path, "run-a"))
    workers = [context.Process(target=_race, args=(path, start, queue)) for _ in range(3)]
    for w in workers:
        w.start()
    wins = [queue.get(timeout=60) for _ in workers]
    for w in workers:
        w.join(timeout=60)
    assert sorted(wins) == [False, False, True]


def _foreign(path: Path, heartbeat_age: float, ttl: float = 60) -> None:
    owner = {"host": "elsewhere.invalid", "pid": 1, "slurm_task": None, "token": "x"}
    beat = time.time() - heartbeat_age
    path.write_text(json.dumps({"owner": owner, "taken": beat, "heartbeat": beat, "ttl": ttl}))


def test_a_live_claim_is_respected_and_a_silent_one_taken_over(tmp_path) -> None:
    path = claim_path(tmp_path, "run-a")
    _foreign(path, heartbeat_age=5)
    held = try_claim(path, Owner.here())
    assert held is not None and held.owner.host == "elsewhere.invalid"
    _foreign(path, heartbeat_age=61)
    me = Owner.here()
    assert try_claim(path, me) is None
    assert read_claim(path).owner == me


def test_the_claim_of_a_dead_process_of_this_host_is_taken_over(tmp_path) -> None:
    path = claim_path(tmp_path, "run-a")
    code = "import sys; from pathlib import Path; from atr_bench.record.claims import *; "
    code += "try_claim(Path(sys.argv[1]), Owner.here(), ttl=3600)"
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)
    dead = read_claim(path)
    assert dead is not None and not dead.age() > dead.ttl  # its heartbeat is fresh
    assert try_claim(path, Owner.here()) is None


def test_a_requeued_slurm_task_takes_its_own_earlier_claim_over(tmp_path) -> None:
    path = claim_path(tmp_path, "run-a")
    assert try_claim(path, Owner.here("7_1")) is None  # a live process: this one
    assert try_claim(path, Owner.here("7_2")) is not None
    assert try_claim(path, Owner.here()) is not None
    assert try_claim(path, Owner.here("7_1")) is None


def test_the_heartbeat_renews_the_claim_and_release_removes_it(tmp_path) -> None:
    path = claim_path(tmp_path, "run-a")
    me = Owner.here()
    assert try_claim(path, me, ttl=0.4) is None
    first = read_claim(path).heartbeat
    with holding(path, me, ttl=0.4):
        time.sleep(0.5)
        assert read_claim(path).heartbeat > first
        assert not read_claim(path).expired()
    assert not path.exists()
    assert not renew(path, me, 0.4)


def test_run_claimed_leaves_busy_runs_alone_and_marks_failures(tmp_path) -> None:
    _foreign(claim_path(tmp_path, "run-b"), heartbeat_age=0)
    status, detail = run_claimed(tmp_path, "run-b", {}, lambda: None)
    assert status == BUSY and "elsewhere.invalid" in detail
    assert run_state(tmp_path, "run-b")[0] == "claimed/running"

    def boom() -> None:
        raise RuntimeError("out of memory")

    assert run_claimed(tmp_path, "run-c", {}, boom) == (FAILED, "RuntimeError: out of memory")
    assert run_state(tmp_path, "run-c") == ("failed", "RuntimeError: out of memory")
    assert not claim_path(tmp_path, "run-c").exists()
    assert run_claimed(tmp_path, "run-c", {}, lambda: None) == (DONE, None)
    assert run_state(tmp_path, "run-c") == ("not started", None)  # no record was written
    assert "run-c.failed" not in os.listdir(tmp_path)


def _claim_json(path: Path, **changes) -> None:
    owner = {"host": "elsewhere.invalid", "pid": 1, "slurm_task": None, "token": "x"}
    now = time.time()
    claim = {"owner": owner, "taken": now, "heartbeat": now, "ttl": 60.0}
    path.write_text(json.dumps({**claim, **changes}))


@pytest.mark.parametrize(
    "changes",
    [
        {"heartbeat": time.time() + 10_000},  # in the future, past any time to live
        {"ttl": float("inf")},
        {"ttl": float("nan")},
        {"ttl": -5},
        {"heartbeat": "soon"},
        {"heartbeat": float("nan")},
        {"owner": {"host": 1, "pid": "x", "slurm_task": None, "token": "x"}},
    ],
    ids=["future", "ttl-inf", "ttl-nan", "ttl-negative", "beat-text", "beat-nan", "owner-types"],
)
def test_a_claim_that_cannot_be_judged_holds_nothing(tmp_path, changes) -> None:
    path = claim_path(tmp_path, "run-a")
    _claim_json(path, **changes)
    assert try_claim(path, Owner.here()) is None  # taken over at once


def test_the_readers_shorter_time_to_live_wins(tmp_path) -> None:
    path = claim_path(tmp_path, "run-a")
    _claim_json(path, heartbeat=time.time() - 120, ttl=3600.0)
    assert try_claim(path, Owner.here(), ttl=600) is not None  # silent 2 min: within both
    assert try_claim(path, Owner.here(), ttl=60) is None  # --claim-ttl 60: silent too long


def test_a_folder_where_a_claim_should_be_is_named(tmp_path) -> None:
    path = claim_path(tmp_path, "run-a")
    path.mkdir()
    with pytest.raises(AtrBenchError, match=r"run-a\.claim: not a claim file"):
        try_claim(path, Owner.here())
    assert path.is_dir()


def test_a_plain_run_skips_a_run_another_process_is_training(
    tmp_path, capsys, tiny_data, tiny_args
) -> None:
    """Two `run`s of one id at once would both train and both log every epoch: the second
    meets the first's claim and leaves that seed to it, as a second sweep does; once the claim
    is gone it runs."""
    from atr_bench.cli.main import main

    runs = tmp_path / "runs"
    args = tiny_args(tiny_data, runs, "--pooling", "mean", "--epochs", "1")
    assert main([*args, "--force"]) == 0
    (record,) = runs.glob("*.json")
    record.unlink()
    claim = claim_path(runs, record.stem)
    _foreign(claim, heartbeat_age=1)  # a live worker elsewhere
    capsys.readouterr()
    assert main(args) == 0
    err = capsys.readouterr().err.strip()
    assert "seed 0: being trained now by pid 1 on elsewhere.invalid" in err and "skipped" in err
    assert not record.exists()
    claim.unlink()
    assert main(args) == 0 and record.exists() and not claim.exists()


def test_a_lock_leaves_no_file_behind_even_when_its_holder_fails(tmp_path) -> None:
    """The lock file goes with its holder (a failed extraction or claim leaves no empty
    ``.lock``); a holder that lets go while another waits is taken over on a fresh file."""
    from atr_bench.files.atomic import exclusive

    target = tmp_path / "features.h5"
    with exclusive(target):
        assert (tmp_path / "features.h5.lock").exists()
    with pytest.raises(RuntimeError), exclusive(target):
        raise RuntimeError("extraction failed")
    assert list(tmp_path.iterdir()) == []
    code = (
        "import sys, time; from pathlib import Path; from atr_bench.files.atomic import exclusive\n"
        "with exclusive(Path(sys.argv[1])):\n"
        "    print('held', flush=True); time.sleep(1.0)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    waited: list[bool] = []
    with exclusive(target, waiting=lambda: waited.append(True)):
        assert holder.poll() is not None or waited  # it waited for the holder to let go
        assert (tmp_path / "features.h5.lock").exists()
    holder.wait(timeout=60)
    assert waited == [True] and list(tmp_path.iterdir()) == []
