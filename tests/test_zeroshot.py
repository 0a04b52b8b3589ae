"""``--protocol zeroshot`` with a tiny random CLAP model saved to a folder: its towers embed
into one space, a run trains nothing and writes a record (model and digest in its features),
per-query ranks and a row beside the trained rows of its test set, ``compare`` pairs it with a
trained row, embeddings are made once, and what a zero-shot run cannot use is one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import hf_models
import numpy as np
import pytest
import torch

from atr_bench.cli.main import main
from atr_bench.plugins.registry import registry

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def clap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hf_models.clap(tmp_path_factory.mktemp("hf-clap") / "clap")


def _spec(model: Path):
    spec = registry().get("extractor", "clap")
    options = spec.resolve_options({"model": str(model)})
    return options, spec.configured(options)


def test_the_towers_embed_clips_and_captions_into_one_space(clap):
    options, configured = _spec(clap)
    assert (configured.dim, configured.sample_rate, configured.frames_per_second) == (
        16,
        16000,
        0.5,
    )
    assert configured.name.startswith("clap-clap-") and configured.provenance["digest"]
    audio = configured.create(**options)
    waves = [
        0.1 * torch.randn(n, generator=torch.Generator().manual_seed(n)) for n in (32000, 9000)
    ]
    with torch.no_grad():
        together = audio.ragged(waves)
        alone = torch.cat([audio.ragged([wave]) for wave in waves])
    assert together.shape == (2, 1, 16) and audio.frames_for(9000) == 1
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)
    assert configured.text_tower is not None
    text = configured.text_tower(**options)
    captions = text.encode(["a dog barks", "rain falls on a roof, then thunder"])
    assert [c.shape for c in captions] == [(1, 16), (1, 16)]
    np.testing.assert_allclose([np.linalg.norm(c) for c in captions], 1.0, rtol=1e-5)
    assert text.cache_tag == configured.provenance["digest"].removeprefix("sha256:")


def _zero_shot(data: Path, runs: Path, clap: Path, tiny_options, *extra: str) -> list[str]:
    args = ["run", "--protocol", "zeroshot", "--extractor", "clap"]
    args += ["--extractor-opt", f"model={clap}", "--data-root", str(data)]
    args += ["--runs-dir", str(runs), "--no-progress", *extra]
    for key, value in tiny_options.items():
        args += ["--dataset-opt", f"{key}={value}"]
    return args


def test_zero_shot_row_beside_a_trained_row_and_compared(
    clap, tiny_data, tiny_args, tiny_options, tmp_path, monkeypatch, capsys
):
    data, runs, boards = tmp_path / "data", tmp_path / "runs", tmp_path / "boards"
    shutil.copytree(tiny_data, data)
    assert main(tiny_args(data, runs, "--pooling", "mean", "--epochs", "1")) == 0
    assert main(_zero_shot(data, runs, clap, tiny_options)) == 0
    records = {p.stem: json.loads(p.read_text()) for p in runs.glob("*.json")}
    (shot,) = [r for r in records.values() if r.get("zero_shot")]
    (trained,) = [r for r in records.values() if not r.get("zero_shot")]
    assert shot["protocol"] == {"name": "zeroshot", "version": 1} and shot["pooling"] == "zeroshot"
    assert shot["extractor"] == shot["text_encoder"] == _spec(clap)[1].name
    assert shot["features"]["test"]["model"] == str(clap)
    assert shot["features"]["test"]["digest"].startswith("sha256:")
    assert shot["text_features"]["digest"] == shot["features"]["test"]["digest"]
    assert shot["split_digests"]["test"] == trained["split_digests"]["test"]
    assert shot["seconds"]["train"] == 0.0 and 0 <= shot["order_contrast"]["accuracy"] <= 100
    assert (runs / shot["ranks"]).exists()
    assert set(shot["plugins"]) == {"dataset", "extractor", "protocol"}
    assert all(len(plugin["digest"]) == 64 for plugin in shot["plugins"].values())  # code identity

    assert (
        main(["leaderboard", "--runs-dir", str(runs), "--out", str(boards), "--include-smoke"]) == 0
    )
    (board,) = boards.glob("synthcaps-lou2022-tuned-*.csv")
    text = board.read_text()
    assert shot["protocol_hash"][:6] in text and trained["protocol_hash"][:6] in text
    assert not list(boards.glob("synthcaps-zeroshot*"))  # it sits beside the trained row
    (markdown,) = boards.glob("synthcaps-lou2022-tuned-*.md")
    assert "Zero-shot rows (pooling zeroshot)" in markdown.read_text()

    capsys.readouterr()
    compare = ["compare", shot["protocol_hash"][:8], trained["protocol_hash"][:8]]
    assert main([*compare, "--runs-dir", str(runs)]) == 0
    out = capsys.readouterr().out
    assert "A = zeroshot" in out and "t2a R@1" in out

    def never(*args, **kwargs):
        raise AssertionError("embedded again")

    monkeypatch.setattr("atr_bench.hf.clap.ClapAudioTower.__init__", never)
    monkeypatch.setattr("atr_bench.hf.clap.ClapTextTower.encode", never)
    assert main(_zero_shot(data, runs, clap, tiny_options, "--force")) == 0
    again = json.loads((runs / f"{shot['run_id']}.json").read_text())
    assert again["test"] == shot["test"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--epochs", "2"],
            "protocol 'zeroshot' trains nothing and tests the dual encoder as it is; drop --epochs",
        ),
        (["--text-encoder", "word2vec"], "drop --text-encoder"),
        (["--seeds", "0,1"], "seeds change nothing: give one seed (--seeds 0)"),
        (["--extractor", "lms"], "extractor 'lms' has no text tower; pass --extractor clap"),
    ],
)
def test_what_a_zero_shot_run_cannot_use_is_one_line(
    clap, tmp_path, tiny_options, capsys, extra, message
):
    args = _zero_shot(tmp_path / "data", tmp_path / "runs", clap, tiny_options, *extra)
    if "lms" in extra:
        args = [a for a in args if not a.startswith("model=")]
        args.remove("--extractor-opt")
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_a_sweep_fails_the_zero_shot_protocol_saying_how_to_run_it(tmp_path, capsys):
    args = ["sweep", "--protocol", "zeroshot", "--data-root", str(tmp_path / "data")]
    assert main([*args, "--runs-dir", str(tmp_path / "runs"), "--no-progress"]) == 1
    assert "protocol 'zeroshot' trains nothing: test a dual encoder with `atr-bench run" in (
        capsys.readouterr().out
    )


def test_a_missing_clap_model_is_one_line_and_exit_2(tmp_path, tiny_options, capsys):
    missing = tmp_path / "no-clap"
    assert main(_zero_shot(tmp_path / "data", tmp_path / "runs", missing, tiny_options)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"extractor 'clap': {str(missing)!r} is not a folder" in err
