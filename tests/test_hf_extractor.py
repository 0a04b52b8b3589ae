"""The ``hf`` extractor on tiny random AST and wav2vec 2.0 models saved to a folder: dim and
rates from the model's configs, frames cropped per clip, a feature folder per model and layer,
provenance in the record, extraction done once, and a missing model as one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import hf_models
import numpy as np
import pytest
import soundfile
import torch

from atr_bench.cli.main import main
from atr_bench.dev.conformance import check_extractor
from atr_bench.errors import AtrBenchError
from atr_bench.hf.extractor_spec import SPEC

pytest.importorskip("transformers")

SMALL = ["--dataset-opt", "order_pairs=2"]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf-audio")
    return {
        "ast": hf_models.ast(root / "ast"),
        "wav2vec2": hf_models.wav2vec2(root / "w2v"),
        "whisper": hf_models.whisper(root / "whisper"),
    }


def _configured(model: Path, **options: str):
    return SPEC.configured(SPEC.resolve_options({"model": str(model), **options}))


def test_dim_and_rates_come_from_the_models_configs(models):
    ast, w2v = _configured(models["ast"]), _configured(models["wav2vec2"], stride="4")
    whisper = _configured(models["whisper"])
    assert (ast.dim, ast.sample_rate, ast.frames_per_second) == (32, 16000, 10.0)
    assert (w2v.dim, w2v.sample_rate, w2v.frames_per_second) == (32, 16000, 200.0)
    assert (whisper.dim, whisper.sample_rate, whisper.frames_per_second) == (32, 16000, 50.0)
    assert ast.name.startswith("hf-ast-") and w2v.name.startswith("hf-w2v-")
    assert ast.provenance["digest"].startswith("sha256:") and ast.provenance["layer"] == "last"


def test_the_feature_folder_is_named_by_model_layer_and_stride_not_path(models, tmp_path):
    names = {
        _configured(models["ast"]).name,
        _configured(models["ast"], layer="mean").name,
        _configured(models["ast"], layer="1").name,
        _configured(models["wav2vec2"]).name,
        _configured(models["wav2vec2"], stride="2").name,
    }
    assert len(names) == 5
    copy = tmp_path / "ast"
    copy.mkdir()
    for path in models["ast"].iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    assert _configured(copy).name == _configured(models["ast"]).name


@pytest.mark.parametrize("name", ["ast", "wav2vec2", "whisper"])
def test_a_batch_gives_each_clip_its_own_frames(models, name):
    options = SPEC.resolve_options({"model": str(models[name]), "layer": "mean", "stride": "2"})
    extractor = SPEC.create(**options)
    lengths = (16000, 12000)
    waves = [0.1 * torch.randn(n, generator=torch.Generator().manual_seed(n)) for n in lengths]
    batch = torch.zeros(2, max(lengths))
    for row, wave in enumerate(waves):
        batch[row, : len(wave)] = wave
    with torch.no_grad():
        out = extractor(batch)
        ragged = extractor.ragged(waves)
        alone = [extractor(wave[None])[0] for wave in waves]
    assert out.shape[0] == 2 and out.shape[2] == extractor.dim == 32
    frames = [extractor.frames_for(n) for n in lengths]
    assert 1 <= frames[1] <= frames[0] <= out.shape[1]
    assert abs(frames[0] - lengths[0] / 16000 * extractor.frames_per_second) <= 2
    torch.testing.assert_close(out[0, : frames[0]], alone[0][: frames[0]], atol=1e-4, rtol=1e-4)
    for row, clip in enumerate(alone):  # at its own length, a clip is the same in a batch
        torch.testing.assert_close(ragged[row, : frames[row]], clip[: frames[row]])


def test_a_layer_out_of_range_is_one_line(models):
    with pytest.raises(AtrBenchError, match=r"layer=5 is out of range: the model has 2 layers"):
        _configured(models["ast"], layer="5")


@pytest.mark.parametrize(
    ("name", "options", "frames"),
    [("ast", {}, 20), ("wav2vec2", {"stride": "40", "layer": "mean"}, 40)],
    ids=["ast", "wav2vec2"],
)
def test_run_records_the_model_and_reuses_its_features(
    models, tmp_path, tiny_args, monkeypatch, name, options, frames
):
    data, runs = tmp_path / "data", tmp_path / "runs"
    hf = ["--extractor", "hf", "--extractor-opt", f"model={models[name]}", *SMALL]
    for key, value in options.items():
        hf += ["--extractor-opt", f"{key}={value}"]
    assert main(tiny_args(data, runs, *hf, "--pooling", "mean", "--epochs", "1")) == 0
    (record_file,) = runs.glob("*.json")
    record = json.loads(record_file.read_text())
    configured = _configured(models[name], **options)
    assert record["extractor"] == configured.name
    assert record["run_id"].startswith(f"synthcaps-{configured.name}-")
    test = record["features"]["test"]
    assert test["extractor"] == configured.name and test["model"] == str(models[name])
    assert test["digest"].startswith("sha256:")
    assert test["layer"] == options.get("layer", "last")
    assert record["config"]["audio_frames"] == frames  # 2 s at the model's frame rate
    assert "extractor.model" not in record["settings"]  # the name holds the model's digest

    def no_second_extraction(*args, **kwargs):
        raise AssertionError("the features were extracted again")

    monkeypatch.setattr("atr_bench.hf.extractor.HFExtractor.__init__", no_second_extraction)
    assert main(tiny_args(data, runs, *hf, "--pooling", "max", "--epochs", "1")) == 0
    assert len(list(runs.glob("*.json"))) == 2


def test_extract_writes_a_folder_of_audio_with_wav2vec2(models, tmp_path, capsys):
    captions, audio, data = tmp_path / "captions", tmp_path / "audio", tmp_path / "data"
    _clotho_folder(captions, audio)
    prepare = ["data", "prepare", "clotho", "--captions-dir", str(captions)]
    assert main([*prepare, "--data-root", str(data)]) == 0
    extract = ["extract", "--dataset", "clotho", "--extractor", "hf", "--audio-dir", str(audio)]
    extract += ["--extractor-opt", f"model={models['wav2vec2']}", "--extractor-opt", "stride=8"]
    extract += ["--data-root", str(data), "--device", "cpu", "--no-progress"]
    assert main(extract) == 0
    assert "train: 2 clips, 2 written now, 2 stored" in capsys.readouterr().out
    name = _configured(models["wav2vec2"], stride="8").name
    with h5py.File(data / "Clotho" / "AudioExpert" / name / "test" / f"{name}.h5") as handle:
        clips = [handle[k] for k in handle if isinstance(handle[k], h5py.Dataset)]
        assert [clip.shape for clip in clips] == [(_frames(16000, stride=8), 32)] * 2
        assert handle.attrs["model"] == str(models["wav2vec2"])
    assert main(extract) == 0
    assert "train: 2 clips, 0 written now, 2 stored" in capsys.readouterr().out


def _frames(n_samples: int, stride: int) -> int:
    """wav2vec2's two convolutions (kernel 10 stride 5, kernel 8 stride 4), then ``stride``."""
    frames = ((n_samples - 10) // 5 + 1 - 8) // 4 + 1
    return -(-frames // stride)


def _clotho_folder(captions: Path, audio: Path) -> None:
    """Two clips per split of 1 s tones, as Clotho's official caption files and audio folder."""
    from atr_bench.data.prepare import CLOTHO_FILES

    captions.mkdir()
    audio.mkdir()
    for index, (_, file) in enumerate(CLOTHO_FILES.items()):
        rows = ["file_name," + ",".join(f"caption_{i}" for i in range(1, 6))]
        for clip in range(2):
            name = f"clip{index}{clip}.wav"
            tone = np.sin(np.arange(16000) * (index + clip + 1) / 20).astype(np.float32)
            soundfile.write(audio / name, 0.3 * tone, 16000)
            rows.append(name + "," + ",".join(f"tone {index} {clip} take {k}" for k in range(5)))
        (captions / file).write_text("\n".join(rows) + "\n")


def test_a_missing_folder_is_one_line_and_exit_2(tmp_path, tiny_args, capsys):
    missing = tmp_path / "no-model"
    args = ["--extractor", "hf", "--extractor-opt", f"model={missing}"]
    assert main(tiny_args(tmp_path / "data", tmp_path / "runs", *args)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"{str(missing)!r} is not a folder; pass --extractor-opt model=FOLDER" in err


def test_a_hub_id_without_network_or_cache_is_one_line_and_exit_2(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf-home")}
    args = ["run", "--extractor", "hf", "--extractor-opt", "model=nobody/no-such-model"]
    args += ["--data-root", str(tmp_path / "data"), "--runs-dir", str(tmp_path / "runs")]
    done = subprocess.run(
        [sys.executable, "-m", "atr_bench.cli.main", *args], capture_output=True, text=True, env=env
    )
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "model 'nobody/no-such-model' is not a local folder" in done.stderr
    assert "pass a local folder: --extractor-opt model=/path/to/folder" in done.stderr


@pytest.mark.parametrize("name", ["wav2vec2", "whisper"])
def test_the_conformance_kit_passes_the_configured_extractor(models, name):
    check_extractor(SPEC, {"model": str(models[name]), "layer": "mean"})


def test_a_model_of_unknown_framing_is_one_line(tmp_path):
    folder = hf_models.bert(tmp_path / "bert")
    with pytest.raises(AtrBenchError, match=r"model type 'bert' .* has no known framing"):
        _configured(folder)
