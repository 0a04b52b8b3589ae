"""A board's reproduce line reproduces: the sweeps it states, derived from its records, make
runs of the same ids into a fresh runs folder, and its leaderboard call then gives the same
board; commands come out grouped, quoted and complete, and what no flag sets is said."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pandas as pd

from atr_bench.cli.main import build_parser, main
from atr_bench.record.run_record import RunRecord
from atr_bench.report.reproduce import run_commands

ONE_THREAD = ("--epochs", "1", "--log-to", "none", "--threads", "1")


def _board(runs: Path, out: Path) -> tuple[pd.DataFrame, dict]:
    args = ["leaderboard", "--runs-dir", str(runs), "--out", str(out), "--include-smoke"]
    assert main([*args, "--format", "csv,md"]) == 0
    (csv,) = out.glob("*.csv")
    provenance = json.loads(csv.with_name(f"{csv.stem}.provenance.json").read_text())
    return pd.read_csv(csv), provenance


def test_the_stated_commands_make_the_same_runs_and_board(
    tiny_data, tiny_args, tmp_path, monkeypatch, capsys
) -> None:
    runs, again = tmp_path / "runs", tmp_path / "again"
    grid = tiny_args(tiny_data, runs, *ONE_THREAD, "--seeds", "0,1")
    grid[0] = "sweep"
    assert main([*grid, "--pooling", "mean,max"]) == 0
    odd = tiny_args(tiny_data, runs, *ONE_THREAD, "--pooling", "mean", "--text-pooling", "max")
    assert main([*odd, "--lr", "0.005"]) == 0
    made = sorted(p.name for p in runs.glob("*.json"))
    assert len(made) == 5
    board, provenance = _board(runs, tmp_path / "boards")
    *sweeps, call = provenance["reproduce"]
    assert len(sweeps) == 2 and call.startswith(f"atr-bench leaderboard --runs-dir {runs}")
    grid_line = next(s for s in sweeps if "--pooling max,mean" in s)
    assert "--seeds 0,1 --threads 1 --device cpu" in grid_line
    assert "--dataset-opt train=64" in grid_line and "--epochs 1" in grid_line
    odd_line = next(s for s in sweeps if "--text-pooling max" in s)
    assert "--lr 0.005" in odd_line and "--seeds 0 " in odd_line

    monkeypatch.setenv("ATR_BENCH_DATA", str(tiny_data))
    for command in sweeps:
        words = shlex.split(command.replace(str(runs), str(again)))
        assert words[:2] == ["atr-bench", "sweep"]
        assert main([*words[1:], "--log-to", "none", "--no-progress"]) == 0
    assert sorted(p.name for p in again.glob("*.json")) == made  # the same run ids
    words = shlex.split(call.replace(str(runs), str(again)).replace("boards", "boards-again"))
    assert main(words[1:]) == 0
    (csv,) = (tmp_path / "boards-again").glob("*.csv")
    wall = [c for c in board.columns if c.startswith("train_seconds")]  # clocks, not results
    pd.testing.assert_frame_equal(pd.read_csv(csv).drop(columns=wall), board.drop(columns=wall))
    capsys.readouterr()


def _record(**fields) -> RunRecord:
    metrics = {"R1": 10.0, "R5": 20.0, "R10": 30.0, "mAP10": 5.0, "MedR": 9.0}
    base = {
        "dataset": "synthcaps",
        "extractor": "lms",
        "pooling": "mean",
        "text_encoder": "word2vec",
        "seed": 0,
        "test": {"t2a": metrics, "a2t": metrics},
    }
    fields.setdefault("text_pooling", fields.get("pooling", "mean"))  # as the audio side
    return RunRecord.from_json({"schema": 3, **base, **fields})


def test_commands_group_rows_and_parse_as_the_command_line_does(tmp_path: Path) -> None:
    """Extractors that ran the same poolings share a sweep; every setting becomes its flag,
    values quoted for the shell; the commands parse; a zero-shot row is a run of its own;
    what no flag sets is listed."""
    gpu = {"device": "cuda", "gpu": "H100"}
    records = [
        _record(extractor=e, pooling=p, seed=s, execution={"device": "cpu", "threads": 2})
        for e in ("lms", "vggish")
        for p in ("mean", "max")
        for s in (0, 1)
    ]
    records += [
        _record(
            pooling="netvlad",
            execution=gpu,
            settings={
                "audio_pooling.clusters": 16,
                "text_pooling.padding": "zeros",
                "dataset.note": "a b;c",
                "gate_batch_norm": False,
                "amp": False,
                "loss": "infonce",
                "batch_items": "pairs",
            },
        ),
        _record(extractor="clap", pooling="zeroshot", zero_shot=True, seed=0),
    ]
    made = run_commands(records, Path("runs"))
    grid = (
        "atr-bench sweep --dataset synthcaps --protocol pairs --extractor lms,vggish "
        "--pooling max,mean --text-encoder word2vec --seeds 0,1 --threads 2 --device cpu"
    )
    odd = (
        "atr-bench sweep --dataset synthcaps --protocol pairs --extractor lms --pooling netvlad "
        "--text-encoder word2vec --no-amp --pooling-opt clusters=16 --dataset-opt 'note=a b;c' "
        "--no-gate-batch-norm --loss infonce --text-pooling-opt padding=zeros --seeds 0 "
        "--device cuda"
    )
    zero_shot = "atr-bench run --dataset synthcaps --protocol pairs --extractor clap --seeds 0"
    assert sorted(made.commands) == sorted([grid, odd, zero_shot])
    assert run_commands(list(reversed(records)), Path("runs")) == made  # a stable order
    assert made.unsettable == ("batch_items=pairs",)
    parser = build_parser()
    args = parser.parse_args(shlex.split(odd)[1:])
    assert args.pooling_opt == ["clusters=16"] and args.dataset_opt == ["note=a b;c"]
    assert args.gate_batch_norm is False and args.no_amp and args.loss == "infonce"
    assert parser.parse_args(shlex.split(zero_shot)[1:]).extractor == "clap"
