"""The ``hf`` text encoder on tiny random BERT and RoBERTa models with tokenizers written by
the test: token-level states, a caption the same alone or in a batch, a cache keyed by the
model's digest, runs on synthcaps that encode once, and a missing model as one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import hf_models
import numpy as np
import pytest

from atr_bench.cli.main import main
from atr_bench.dev.conformance import check_text_encoder
from atr_bench.errors import AtrBenchError
from atr_bench.plugins.registry import registry

pytest.importorskip("transformers")

CAPTIONS = ["a dog barks, then a car passes.", "rain", "birds sing after the bell rings twice"]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf-text")
    return {"bert": hf_models.bert(root / "bert"), "roberta": hf_models.roberta(root / "roberta")}


def _encoder(model: Path, **options: str):
    spec = registry().get("text_encoder", "hf")
    return spec.create(**spec.resolve_options({"model": str(model), **options}))


@pytest.mark.parametrize("name", ["bert", "roberta"])
def test_token_states_are_the_same_alone_or_in_a_batch(models, name):
    encoder = _encoder(models[name])
    together = encoder.encode(CAPTIONS)
    assert encoder.dim == 32
    for caption, tokens in zip(CAPTIONS, together, strict=True):
        (alone,) = encoder.encode([caption])
        assert tokens.dtype == np.float32 and tokens.shape == alone.shape
        assert tokens.shape[0] >= len(caption.split()) + 2  # word pieces and special tokens
        np.testing.assert_allclose(tokens, alone, atol=1e-5)
    mean = _encoder(models[name], layer="mean").encode(CAPTIONS[:1])[0]
    first = _encoder(models[name], layer="1").encode(CAPTIONS[:1])[0]
    assert mean.shape == first.shape == together[0].shape
    assert not np.allclose(mean, together[0]) and not np.allclose(first, together[0])


def _name(model: Path, **options: str) -> str:
    """The configured spec's name: the runs' text encoder column and the cache's name."""
    spec = registry().get("text_encoder", "hf")
    return spec.configured(spec.resolve_options({"model": str(model), **options})).name


def test_the_name_and_cache_tag_follow_the_weights_not_the_path(models, tmp_path):
    copy = tmp_path / "bert"
    shutil.copytree(models["bert"], copy)
    assert _encoder(copy).cache_tag == _encoder(models["bert"]).cache_tag
    assert _name(copy) == _name(models["bert"]) and _name(copy).startswith("hf-bert-")
    assert _encoder(copy, layer="mean").cache_tag != _encoder(copy).cache_tag
    assert _name(copy, layer="mean") != _name(copy)
    before, name = _encoder(copy).cache_tag, _name(copy)
    hf_models.bert(copy)  # new random weights in the same folder
    assert _encoder(copy).cache_tag != before and _name(copy) != name
    assert _encoder(copy).source.digest in _encoder(copy).cache_tag


def test_a_layer_out_of_range_is_one_line(models):
    with pytest.raises(AtrBenchError, match=r"layer=-4 is out of range: the model has 2 layers"):
        _encoder(models["bert"], layer="-4")


def test_runs_with_bert_and_roberta_encode_each_once(
    models, tiny_data, tmp_path, tiny_args, monkeypatch
):
    data, runs = tmp_path / "data", tmp_path / "runs"
    shutil.copytree(tiny_data, data)
    for name in ("bert", "roberta"):
        hf = ["--text-encoder", "hf", "--text-encoder-opt", f"model={models[name]}"]
        assert main(tiny_args(data, runs, *hf, "--pooling", "mean", "--epochs", "1")) == 0
    caches = sorted(p.name for p in data.glob("*/TextEmbeddings/hf-*_test.h5"))
    assert len(caches) == 2
    records = [json.loads(p.read_text()) for p in runs.glob("*.json")]
    assert {r["text_encoder"] for r in records} == {_name(m) for m in models.values()}
    assert {r["text_features"]["model"] for r in records} == {str(m) for m in models.values()}
    assert all(r["text_features"]["digest"].startswith("sha256:") for r in records)
    assert len({r["protocol_hash"] for r in records}) == 2

    def no_encoding(*args, **kwargs):
        raise AssertionError("the captions were encoded again")

    monkeypatch.setattr("atr_bench.hf.text_encoder.HFTextEncoder.encode", no_encoding)
    hf = ["--text-encoder", "hf", "--text-encoder-opt", f"model={models['bert']}"]
    assert main(tiny_args(data, runs, *hf, "--pooling", "max", "--epochs", "1")) == 0


def test_a_missing_model_is_one_line_and_exit_2(tmp_path, tiny_args, capsys):
    missing = tmp_path / "no-model"
    args = ["--text-encoder", "hf", "--text-encoder-opt", f"model={missing}"]
    assert main(tiny_args(tmp_path / "data", tmp_path / "runs", *args)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"text encoder 'hf': {str(missing)!r} is not a folder" in err


@pytest.mark.parametrize("name", ["bert", "roberta"])
def test_the_conformance_kit_passes_the_encoder(models, name, tmp_path):
    spec = registry().get("text_encoder", "hf")
    check_text_encoder(spec, {"model": str(models[name]), "layer": "mean"}, workdir=tmp_path)
