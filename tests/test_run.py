"""The protocol end to end through the command line: records, errors, determinism, resume."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from atr_bench.cli.main import main
from atr_bench.data.layout import SPLITS
from atr_bench.errors import AtrBenchError
from atr_bench.plugins.registry import registry
from atr_bench.record.ranks import read_ranks
from atr_bench.record.results import read_records
from atr_bench.record.run_record import ProtocolRef, RunRecord
from atr_bench.run import evaluation, soundness, training
from atr_bench.run.config import RunRequest
from atr_bench.run.context import RunContext
from atr_bench.run.execute import load_data
from atr_bench.run.metrics import metrics_from_ranks
from atr_bench.run.plan import plan
from atr_bench.run.resume_writer import ResumeWriter


def _records(runs: Path) -> list[RunRecord]:
    records, problems = read_records(runs)
    assert not problems
    return records


def test_run_writes_a_complete_record_and_prints_the_table(tiny_data, tmp_path, capsys, tiny_args):
    runs = tmp_path / "runs"
    assert main(tiny_args(tiny_data, runs, "--pooling", "netrvlad", "--seeds", "0,1")) == 0
    records = sorted(_records(runs), key=lambda r: r.seed)
    assert [r.seed for r in records] == [0, 1]
    record = records[0]
    assert record.pooling == "netrvlad" and record.text_pooling == "netrvlad"
    assert record.text_encoder == "word2vec"
    assert record.protocol == ProtocolRef("lou2022-tuned", 1)
    assert record.config["pooling_options"] == {
        "clusters": 12,
        "ghost_clusters": 0,
        "kernel": "auto",
        "torch_compile": False,
        "assign_norm": "batch",
        "assign_bias": False,
        "assign_init": "normal",
        "padding": "masked",
    }
    assert record.config["text_pooling_options"]["clusters"] == 20
    assert record.config["audio_frames"] == 20  # 2 s of lms at 10 frames/s
    assert record.plugins["pooling"]["distribution"] == "atr-bench"
    assert record.features["test"] == {"extractor": "lms", "weights": "default"}
    assert record.untrained is False
    assert record.sizes["test"] == {"clips": 24, "captions": 120}
    assert len(record.val_curve) == 2 and 1 <= record.best_epoch <= 2
    for direction in ("t2a", "a2t"):
        assert 0 <= record.test[direction]["R1"] <= 100
    assert (runs / "checkpoints" / f"{record.run_id}.pt").exists()
    on_disk = json.loads((runs / f"{record.run_id}.json").read_text())
    assert RunRecord.from_json(on_disk).to_json() == on_disk  # the typed record is the file
    ranks = read_ranks(runs / str(record.ranks))  # per-query ranks beside the record
    assert metrics_from_ranks(ranks) == record.test and record.parameters > 0
    assert ranks.has_ties and on_disk["metric_definitions"]["nDCG10"].startswith("nDCG@10: ")
    assert set(on_disk["metric_definitions"]) == set(record.test["a2t"])
    assert not list((runs / "checkpoints").glob("*.resume.pt"))
    out = capsys.readouterr().out
    assert "t2a" in out and "a2t" in out and "±" in out  # two seeds: mean ± std


def test_selected_checkpoint_loads_safely_and_reproduces_the_test_metrics(
    tiny_data, tmp_path, tiny_args
):
    runs = tmp_path / "runs"
    assert main(tiny_args(tiny_data, runs, "--pooling", "mean")) == 0
    (record,) = _records(runs)
    saved = torch.load(runs / "checkpoints" / f"{record.run_id}.pt", weights_only=True)
    config = RunRequest(  # the request that plans to the saved config (its version follows)
        **{
            k: tuple(sorted(v.items())) if k.endswith("options") else v
            for k, v in saved["config"].items()
            if k != "protocol_version"
        }
    )
    the_plan = plan(config, registry(), tiny_data)
    splits = load_data(the_plan, RunContext(torch.device("cpu"), tmp_path / "runs", tiny_data))
    from atr_bench.run.execute import build_model

    model = build_model(the_plan, splits)
    model.load_state_dict(saved["model"])
    again = evaluation.evaluate(model, splits.test, torch.device("cpu"), amp=False)
    assert again["t2a"]["R1"] == pytest.approx(record.test["t2a"]["R1"])
    assert again["a2t"]["mAP10"] == pytest.approx(record.test["a2t"]["mAP10"])


def test_two_cpu_runs_with_the_same_seed_give_the_same_metrics(tiny_data, tmp_path, tiny_args):
    """The first run checks its poolings' soundness, the second finds them checked already:
    the checks leave the numbers as they are."""
    first, second = tmp_path / "a", tmp_path / "b"
    soundness._checked.clear()
    for runs in (first, second):
        assert main(tiny_args(tiny_data, runs, "--pooling", "lstm", "--seeds", "3")) == 0
        assert soundness._checked  # checked in the first run, not again in the second
    (a,), (b,) = _records(first), _records(second)
    assert a.test == b.test
    assert [e["loss"] for e in a.val_curve] == [e["loss"] for e in b.val_curve]


def test_rerun_skips_seeds_already_done_unless_forced(tiny_data, tmp_path, capsys, tiny_args):
    runs = tmp_path / "runs"
    assert main(tiny_args(tiny_data, runs, "--pooling", "max")) == 0
    (path,) = runs.glob("*.json")
    stamp = json.loads(path.read_text())["created"]
    capsys.readouterr()
    assert main(tiny_args(tiny_data, runs, "--pooling", "max")) == 0
    assert "already done" in capsys.readouterr().err
    assert json.loads(path.read_text())["created"] == stamp


def _trainer(tiny_data: Path, tmp_path: Path, tiny_options, **request):
    """``train(seed, checkpoint)``: a fresh model of this request, trained on tiny synthcaps
    as a run trains it (seeded, then ``training.train``), resuming from ``checkpoint``."""
    from atr_bench.run.execute import build_model, seed_everything

    config = RunRequest(dataset_options=tuple(sorted(tiny_options.items())), **request)
    the_plan = plan(config, registry(), tiny_data)
    cpu = torch.device("cpu")
    splits = load_data(the_plan, RunContext(cpu, tmp_path / "runs", tiny_data))

    def train(seed: int, checkpoint: Path | None = None) -> training.Outcome:
        seed_everything(seed)
        model = build_model(the_plan, splits)
        c, protocol = the_plan.config, the_plan.protocol
        return training.train(
            model, splits.train, splits.val, c, protocol, seed, cpu, checkpoint, progress=False
        )

    return train


@pytest.mark.parametrize("scores", [(3.0, 5.0, 4.0, 2.0), (1.0, 2.0, 2.0, 4.0)])
def test_the_best_epochs_weights_are_returned_and_saved(
    tiny_data, tmp_path, monkeypatch, tiny_options, scores
):
    """Whichever epoch validation picks (an earlier one, or the last), training returns
    exactly that epoch's weights, and the resume file after the last epoch holds them; the
    copy of the best weights is made only when a later epoch trains."""
    from atr_bench.run.execute import build_model, seed_everything

    real_evaluate = training.evaluate
    script = iter(scores)

    def scripted(*args, **kwargs):  # the real validation, its selection score scripted
        val = real_evaluate(*args, **kwargs)
        val["t2a"]["geo"] = next(script)
        return val

    monkeypatch.setattr(training, "evaluate", scripted)
    request = RunRequest(
        dataset_options=tuple(sorted(tiny_options.items())), pooling="netvlad", epochs=4
    )
    the_plan = plan(request, registry(), tiny_data)
    cpu = torch.device("cpu")
    splits = load_data(the_plan, RunContext(cpu, tmp_path / "runs", tiny_data))
    seed_everything(0)
    model = build_model(the_plan, splits)
    seen: list[dict[str, torch.Tensor]] = []

    class Snapshots:
        def log_epoch(self, entry):  # after each epoch's validation
            seen.append({k: v.clone() for k, v in model.state_dict().items()})

        def close(self, finished):
            pass

    copies = []
    real_copy = training._copy_state
    monkeypatch.setattr(
        training, "_copy_state", lambda *a, **k: copies.append(1) or real_copy(*a, **k)
    )
    checkpoint = tmp_path / "resume.pt"
    c, protocol = the_plan.config, the_plan.protocol
    outcome = training.train(
        model, splits.train, splits.val, c, protocol, 0, cpu, checkpoint, False, curves=Snapshots()
    )
    best = max(range(4), key=lambda i: (scores[i], i))  # a tie goes to the later epoch
    assert outcome.best_epoch == best + 1 and len(seen) == 4
    improved = [i for i in range(4) if scores[i] >= max(scores[:i], default=-1)]
    assert len(copies) == len([i for i in improved if i < 3])  # none before training, none last
    assert any(not torch.equal(seen[best][k], seen[-1][k]) for k in seen[best]) == (best < 3)
    final = torch.load(checkpoint, weights_only=True)
    for key, value in seen[best].items():
        assert torch.equal(outcome.best_state[key], value)
        assert torch.equal(final["best_state"][key], value)


@pytest.mark.parametrize("threaded", [False, True], ids=["cpu-writes", "gpu-writes"])
def test_interrupted_training_resumes_to_the_uninterrupted_result(
    tiny_data, tmp_path, monkeypatch, tiny_options, interrupted_at, threaded
):
    """Also with the resume file written by a thread, as a GPU run writes it (forced here on
    the CPU): the interrupted run still leaves its last finished epoch on disk."""
    monkeypatch.setattr(training, "ResumeWriter", lambda background: ResumeWriter(threaded))
    train = _trainer(
        tiny_data, tmp_path, tiny_options, pooling="netvlad", epochs=3, batch_size=32, embed_dim=32
    )
    reference = train(0)
    checkpoint = tmp_path / "resume.pt"
    real_epoch = interrupted_at(3)
    with pytest.raises(KeyboardInterrupt):
        train(0, checkpoint)
    assert torch.load(checkpoint, weights_only=True)["epoch"] == 2
    monkeypatch.setattr(training, "_train_epoch", real_epoch)
    resumed = train(0, checkpoint)
    final = torch.load(checkpoint, weights_only=True)  # after the last epoch: no optimiser
    assert final["epoch"] == 3 and final["optimizer"] is None and final["model"] is None
    monkeypatch.setattr(training, "_train_epoch", None)  # killed while testing: trains nothing
    again = train(0, checkpoint)
    for outcome in (resumed, again):
        assert outcome.curve == reference.curve
        assert outcome.best_epoch == reference.best_epoch
        for key, value in reference.best_state.items():
            torch.testing.assert_close(outcome.best_state[key], value, rtol=0, atol=0)


def test_infonce_loss_option_trains_with_infonce(tiny_data, tmp_path, tiny_args, monkeypatch):
    """--loss infonce trains with InfoNCE: every training step's loss comes from it, and the
    curve's epoch losses are its values (not max-margin's, which the same seed gives apart)."""
    from atr_bench.run import losses

    seen: list[float] = []
    real = losses.info_nce_loss

    def counted(*args, **kwargs):
        loss = real(*args, **kwargs)
        seen.append(float(loss))
        return loss

    monkeypatch.setattr(losses, "info_nce_loss", counted)  # what the registered loss returns
    curves = {}
    for loss in ("infonce", "max_margin"):
        runs = tmp_path / loss
        args = tiny_args(tiny_data, runs, "--pooling", "mean", "--loss", loss, "--epochs", "1")
        assert main(args) == 0
        (record,) = _records(runs)
        assert record.config["loss"] == loss
        curves[loss] = record.val_curve[0]["loss"]
        if loss == "infonce":
            steps = len(seen)
            assert steps > 0 and curves[loss] == pytest.approx(sum(seen) / steps, rel=1e-5)
    assert len(seen) == steps  # max-margin training called InfoNCE not once
    assert curves["infonce"] != pytest.approx(curves["max_margin"])


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "atr_bench.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_unknown_pooling_is_a_one_line_error_with_exit_code_2(tmp_path):
    done = _cli("run", "--pooling", "nosuch", "--data-root", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "nosuch" in lines[0] and "netrvlad" in lines[0] and "lstm" in lines[0]


def test_corrupt_feature_file_is_a_one_line_error_with_exit_code_2(tiny_data, tmp_path, tiny_args):
    import shutil

    root = tmp_path / "data"
    shutil.copytree(tiny_data, root)
    (victim,) = [p for p in root.rglob("lms.h5") if p.parent.name == "val"]
    victim.write_bytes(b"this is not an HDF5 file" * 100)
    args = tiny_args(root, tmp_path / "runs", "--pooling", "mean")[0:]
    done = _cli(*args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(victim) in lines[0]
    assert victim.read_bytes().startswith(b"this is not")  # nothing overwritten


def test_bad_option_names_the_valid_ones(tiny_data, tmp_path, capsys, tiny_args):
    code = main(tiny_args(tiny_data, tmp_path, "--pooling", "netvlad", "--pooling-opt", "k=3"))
    assert code == 2
    err = capsys.readouterr().err
    assert "clusters" in err and "ghost_clusters" in err


def test_list_shows_every_builtin_with_its_plugin(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in (
        "lms",
        "mean",
        "max",
        "lstm",
        "transformer",
        "netvlad",
        "netrvlad",
        "word2vec",
        "w2v",
        "synthcaps",
        "audiocaps",
        "clotho",
    ):
        row = next((line for line in out.splitlines() if line.split()[:1] == [name]), None)
        assert row is not None, name  # a row of its own, named first
        assert "atr-bench" in row, name  # and the distribution it comes from
    assert "atr_bench.poolings" in out


@pytest.mark.slow
def test_default_protocol_learns_far_above_chance(tmp_path):
    """The default protocol (netrvlad) for 10 epochs on a smaller synthcaps (400 training clips,
    in batches of 32 so that it takes as many steps as the full dataset in 3 epochs)."""
    runs = tmp_path / "runs"
    args = [
        "run",
        "--data-root",
        str(tmp_path / "data"),
        "--runs-dir",
        str(runs),
        "--no-progress",
        "--dataset-opt",
        "train=400",
        "--dataset-opt",
        "val=100",
        "--dataset-opt",
        "test=100",
        "--epochs",
        "10",
        "--batch-size",
        "32",
    ]
    assert main(args) == 0
    (record,) = _records(runs)
    chance = 100 / 100  # percent R@1 of a random ranking of 100 test clips
    assert record.test["t2a"]["R1"] > 5 * chance
    assert record.test["a2t"]["R1"] > 5 * chance
    assert {*SPLITS, "order"} == set(record.sizes)  # the order-contrast set too


def test_threads_option_sets_the_cpu_threads_of_the_run(tiny_data, tmp_path, tiny_args):
    before = torch.get_num_threads()
    runs = tmp_path / "runs"
    try:
        args = tiny_args(tiny_data, runs, "--pooling", "mean", "--epochs", "1", "--threads", "1")
        assert main(args) == 0
    finally:
        torch.set_num_threads(before)
    (record,) = _records(runs)
    assert record.device.endswith(", 1 threads)")


def test_paper_options_train_and_get_their_own_row(tiny_data, tmp_path, tiny_args):
    """The paper's code's context-gating BatchNorm and normalised-mean readout: recorded,
    part of the hash (so another leaderboard row), and the BatchNorm is in the saved model."""
    plain, paper = tmp_path / "plain", tmp_path / "paper"
    assert main(tiny_args(tiny_data, plain, "--pooling", "mean", "--protocol", "pairs")) == 0
    extra = ["--pooling", "mean", "--protocol", "pairs", "--gate-batch-norm"]
    extra += ["--pooling-opt", "readout=normalised_mean"]
    assert main(tiny_args(tiny_data, paper, *extra)) == 0
    (a,), (b,) = _records(plain), _records(paper)
    assert b.config["gate_batch_norm"] is True
    paper_only = {k: v for k, v in b.settings.items() if k not in a.settings}
    assert paper_only == {"gate_batch_norm": True, "audio_pooling.readout": "normalised_mean"}
    assert b.config["pooling_options"] == {"readout": "normalised_mean"}
    assert a.protocol_hash != b.protocol_hash
    saved = torch.load(paper / "checkpoints" / f"{b.run_id}.pt", weights_only=True)
    assert "audio_head.gate.norm.running_mean" in saved["model"]
    assert not any(
        "norm" in key
        for key in torch.load(plain / "checkpoints" / f"{a.run_id}.pt", weights_only=True)["model"]
    )


def test_a_record_made_with_other_threads_is_not_taken_as_done(
    tiny_data, tmp_path, capsys, tiny_args
):
    runs = tmp_path / "runs"
    args = tiny_args(tiny_data, runs, "--pooling", "mean", "--epochs", "1")
    assert main([*args, "--threads", "1"]) == 0
    (record,) = _records(runs)
    assert record.execution == {
        "torch": torch.__version__,
        "device": "cpu",
        "threads": 1,
        "cpu": torch.backends.cpu.get_cpu_capability(),
    }
    capsys.readouterr()
    assert main([*args, "--threads", "1"]) == 0  # same execution: reused
    assert "already done" in capsys.readouterr().err
    assert main([*args, "--threads", "2"]) == 2
    err = capsys.readouterr().err
    assert "threads 1" in err and "threads 2" in err and "--force" in err
    assert main([*args, "--threads", "2", "--force"]) == 0
    (record,) = _records(runs)
    assert record.execution["threads"] == 2


def _set_recorded_cpu(runs, cpu: str | None) -> None:
    (path,) = runs.glob("*.json")
    data = json.loads(path.read_text())
    if cpu is None:
        del data["execution"]["cpu"]
    else:
        data["execution"]["cpu"] = cpu
    path.write_text(json.dumps(data))


def test_a_record_made_on_another_cpu_kind_is_not_taken_as_done(
    tiny_data, tmp_path, capsys, tiny_args
):
    runs = tmp_path / "runs"
    args = tiny_args(tiny_data, runs, "--pooling", "mean", "--epochs", "1", "--threads", "1")
    assert main(args) == 0
    _set_recorded_cpu(runs, "NOSUCH_ISA")
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "cpu NOSUCH_ISA" in err and "--force" in err
    _set_recorded_cpu(runs, None)  # a record from before the key: taken as done
    assert main(args) == 0
    assert "already done" in capsys.readouterr().err


def test_a_resume_file_resumes_only_its_own_run_under_its_own_execution(
    tiny_data, tmp_path, monkeypatch, tiny_options, caplog, interrupted_at
):
    """Hand-made or another run's resume files are refused with one line; one made under
    other CPU threads is not gone on from (two executions would mix in one record): the run
    trains again from epoch 0 and says so."""
    train_seed = _trainer(
        tiny_data, tmp_path, tiny_options, pooling="mean", epochs=2, batch_size=32, embed_dim=16
    )
    checkpoint = tmp_path / "resume.pt"
    real_epoch = interrupted_at(2)
    with pytest.raises(KeyboardInterrupt):
        train_seed(0, checkpoint)
    monkeypatch.setattr(training, "_train_epoch", real_epoch)
    good = torch.load(checkpoint, weights_only=True)
    assert good["epoch"] == 1

    for change, says in (
        ({"epoch": 99}, "epoch 99 is not one of 1..2"),
        ({"epoch": -3}, "epoch -3"),
        ({"best_score": float("inf")}, "best score inf"),
        ({"curve": []}, "its curve is not epochs 1..1"),
        ({"run": "0" * 64}, "written by another run"),
    ):
        torch.save({**good, **change}, checkpoint)
        with pytest.raises(AtrBenchError, match=says) as info:
            train_seed(0, checkpoint)
        assert "\n" not in str(info.value) and "not a resume file of this run" in str(info.value)
    torch.save(good, checkpoint)
    with pytest.raises(AtrBenchError, match="written by another run"):
        train_seed(1, checkpoint)  # another seed's run

    torch.save(good, checkpoint)
    threads = torch.get_num_threads()
    torch.set_num_threads(threads + 1)
    try:
        with caplog.at_level("WARNING"):
            restarted = train_seed(0, checkpoint)
    finally:
        torch.set_num_threads(threads)
    assert "under other execution settings" in caplog.text and "epoch 0" in caplog.text
    assert [e["epoch"] for e in restarted.curve] == [1, 2]


def test_list_fits_100_columns_and_shows_the_protocols_pooling_options(capsys):
    for protocol, hidden in (("lou2022-tuned", "hidden=128"), ("pairs", "hidden=512")):
        assert main(["list", "--protocol", protocol]) == 0
        out = capsys.readouterr().out
        assert max(map(len, out.splitlines())) <= 100
        lines = out.splitlines()
        lstm = lines.index(next(line for line in lines if line.startswith("lstm ")))
        assert hidden in lines[lstm + 2], protocol  # as that protocol sets it
    assert main(["list", "--protocol", "nosuch"]) == 2
