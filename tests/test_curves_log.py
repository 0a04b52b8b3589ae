"""Training curves of a run, read back with TensorBoard's and MLflow's own readers."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.plugin_event_multiplexer import EventMultiplexer

from atr_bench.cli.main import main
from atr_bench.record.results import read_records
from atr_bench.run import training
from atr_bench.run.curves_log import MLFLOW_EXPERIMENT, mlflow_client, scalars


def _record(runs: Path) -> dict:
    (record,), problems = read_records(runs)
    assert not problems
    return record


def _tensorboard(runs: Path, run_id: str) -> EventAccumulator:
    events = EventAccumulator(str(runs / "tb" / run_id))
    events.Reload()
    return events


def test_a_resumed_run_logs_every_epoch_once_with_the_record_values(
    tiny_data, tmp_path, monkeypatch, tiny_args, interrupted_at
):
    runs = tmp_path / "runs"
    real_epoch = interrupted_at(2)
    assert main(tiny_args(tiny_data, runs, "--pooling", "mean")) == 130
    (folder,) = (runs / "tb").iterdir()
    assert _tensorboard(runs, folder.name).Scalars("train/loss")[0].step == 1
    monkeypatch.setattr(training, "_train_epoch", real_epoch)
    assert main(tiny_args(tiny_data, runs, "--pooling", "mean")) == 0

    record = _record(runs)
    assert folder.name == record.run_id
    assert len(list(folder.glob("events.out.tfevents.*"))) == 1  # the interrupted log is gone
    events = _tensorboard(runs, record.run_id)
    expected = [scalars(entry) for entry in record.val_curve]
    assert sorted(events.Tags()["scalars"]) == sorted(expected[0])
    assert {"train/loss", "val/t2a/R1", "val/a2t/mAP10", "val/t2a/geo"} <= set(expected[0])
    for tag in expected[0]:
        logged = events.Scalars(tag)
        assert [e.step for e in logged] == [1, 2]  # each epoch once, resumed or not
        # TensorBoard keeps scalars as float32
        assert [e.value for e in logged] == [float(np.float32(x[tag])) for x in expected]

    served = EventMultiplexer()  # what `tensorboard --logdir runs/` loads
    served.AddRunsFromDirectory(str(runs))
    served.Reload()
    assert list(served.Runs()) == [f"tb/{record.run_id}"]


def test_log_to_none_writes_no_curves(tiny_data, tmp_path, tiny_args):
    runs = tmp_path / "runs"
    args = tiny_args(tiny_data, runs, "--pooling", "max", "--epochs", "1", "--log-to", "none")
    assert main(args) == 0
    assert len(_record(runs).val_curve) == 1
    run_id = _record(runs).run_id
    assert sorted(p.name for p in runs.iterdir()) == [
        "checkpoints",
        f"{run_id}.json",
        f"{run_id}.ranks.npz",
    ]


def test_mlflow_store_holds_one_run_per_run_id_with_its_config(tiny_data, tmp_path, tiny_args):
    runs = tmp_path / "runs"
    args = tiny_args(tiny_data, runs, "--pooling", "max", "--epochs", "1", "--log-to", "mlflow")
    assert main(args) == 0
    assert main([*args, "--force"]) == 0  # a forced rerun replaces the MLflow run
    record = _record(runs)
    assert not (runs / "tb").exists()

    client = mlflow_client(runs / "mlflow")
    experiment = client.get_experiment_by_name(MLFLOW_EXPERIMENT).experiment_id
    (run,) = client.search_runs([experiment])
    assert run.info.run_name == record.run_id and run.info.status == "FINISHED"
    params = run.data.params
    assert params["seed"] == "0" and params["pooling"] == "max"
    assert params["lr"] == str(record.config["lr"])
    assert params["text_pooling_options.padding"] == str(
        record.config["text_pooling_options"]["padding"]
    )
    (entry,) = record.val_curve
    for tag, value in scalars(entry).items():
        (logged,) = client.get_metric_history(run.info.run_id, tag)
        assert (logged.step, logged.value) == (1, value)


def test_log_to_mlflow_without_mlflow_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if it were not installed
    runs = tmp_path / "runs"
    args = ["run", "--data-root", str(tmp_path), "--runs-dir", str(runs), "--log-to", "mlflow"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "pip install 'atr-bench[mlflow]'" in err and len(err.strip().splitlines()) == 1
    assert not runs.exists()


@pytest.mark.parametrize("flag", ["run", "sweep"])
def test_log_to_is_checked_by_the_parser(flag, capsys):
    with pytest.raises(SystemExit) as exc:
        main([flag, "--log-to", "wandb"])
    assert exc.value.code == 2
    assert "--log-to" in capsys.readouterr().err


@pytest.mark.slow
def test_tensorboard_serves_the_curves_of_a_run(tiny_data, tmp_path, tiny_args):
    runs = tmp_path / "runs"
    assert main(tiny_args(tiny_data, runs, "--pooling", "mean")) == 0
    record = _record(runs)
    command = [sys.executable, "-m", "tensorboard.main", "--logdir", str(runs), "--port", "0"]
    server = subprocess.Popen([*command, "--host", "127.0.0.1"], stderr=subprocess.PIPE, text=True)
    try:
        address = None
        for line in server.stderr:  # it names the address it serves once it listens
            if found := re.search(r"at (http://127\.0\.0\.1:\d+/)", line):
                address = found.group(1)
                break
        assert address, "tensorboard did not start"
        query = urllib.parse.urlencode({"run": f"tb/{record.run_id}", "tag": "val/t2a/geo"})
        url = f"{address}data/plugin/scalars/scalars?{query}"
        deadline, points = time.monotonic() + 60, []
        while not points and time.monotonic() < deadline:  # it loads the logdir in background
            try:
                with urllib.request.urlopen(url, timeout=10) as answer:
                    points = json.load(answer)
            except urllib.error.HTTPError:  # the run is not loaded yet
                pass
            time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(timeout=30)
        server.stderr.close()
    expected = [np.float32(e["val"]["t2a"]["geo"]) for e in record.val_curve]
    assert [(step, np.float32(value)) for _, step, value in points] == list(
        zip([1, 2], expected, strict=True)
    )
