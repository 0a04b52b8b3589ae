"""Run ids of existing runs never change: the ids below are pinned as the command line made
them before the request/config split and the one-hash policy (see ``run.hashing``). Those runs
were recorded before code identity entered the hash, so their ids are the hash without it."""

from __future__ import annotations

import dataclasses

import pytest

from atr_bench.cli.main import build_parser
from atr_bench.cli.run import config_from_args
from atr_bench.plugins.registry import registry
from atr_bench.run.hashing import run_hash
from atr_bench.run.plan import plan

PINNED = {
    (): "synthcaps-lms-netrvlad-word2vec-18ec2e4ee643-s0",
    ("--protocol", "lou2022-masked"): "synthcaps-lms-netrvlad-word2vec-e02eff3c96bb-s0",
    ("--protocol", "pairs"): "synthcaps-lms-netrvlad-word2vec-97cc9e6bfdb0-s0",
    ("--protocol", "lou2022"): "synthcaps-lms-netrvlad-word2vec-2d6781fd7d5d-s0",
    (
        "--protocol",
        "lou2022-masked",
        "--weights",
        "random",
    ): "synthcaps-lms-netrvlad-word2vec-bae1b0faa45c-s0",
    ("--protocol", "pairs", "--pooling", "transformer"): (
        "synthcaps-lms-transformer-word2vec-84229126d17e-s0"
    ),
    (
        "--protocol",
        "lou2022-masked",
        "--pooling",
        "netvlad",
        "--pooling-opt",
        "clusters=8",
        "--pooling-opt",
        "kernel=torch",
    ): "synthcaps-lms-netvlad-word2vec-ab5f0d22ba9c-s0",
    ("--protocol", "lou2022", "--pooling", "lstm"): "synthcaps-lms-lstm-word2vec-52fa3817da07-s0",
}


@pytest.mark.parametrize(("flags", "run_id"), list(PINNED.items()))
def test_the_command_line_gives_the_recorded_run_ids(tmp_path, flags, run_id):
    args = build_parser().parse_args(["run", *flags])
    the_plan = plan(config_from_args(args), registry(), tmp_path)
    specs = {name: found.spec for name, found in the_plan.components.items()}
    recorded = run_hash(the_plan.config, specs, the_plan.weights)  # without code identity
    assert dataclasses.replace(the_plan, run_hash=recorded).run_id(0) == run_id
    assert the_plan.run_id(0) != run_id  # a new run: the code it ran then is not known


def test_no_amp_on_the_cpu_names_the_same_run(tiny_data, tmp_path, tiny_args, capsys) -> None:
    """Mixed precision is CUDA's alone: --no-amp on the CPU changes no number, so it is the
    same run (already done), not a new leaderboard row."""
    from atr_bench.cli.main import main

    runs = tmp_path / "runs"
    args = tiny_args(tiny_data, runs, "--pooling", "mean", "--epochs", "1", "--device", "cpu")
    assert main(args) == 0
    capsys.readouterr()
    assert main([*args, "--no-amp"]) == 0
    assert "already done" in capsys.readouterr().err
    assert len(list(runs.glob("*.json"))) == 1
