"""The paper's pretrained extractors: architecture matches the official checkpoints' key lists,
frame counts match the protocol, official checkpoint containers load strictly with
weights_only, and the no-weights policy points at the official files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import signal

from atr_bench.components.extractors.pretrained import PRETRAINED_SPECS
from atr_bench.data.extraction.weights import SOURCES, load_checkpoint
from atr_bench.errors import AtrBenchError

KEYS_DIR = Path(__file__).parent / "data" / "checkpoint_keys"
SPECS = {spec.name: spec for spec in PRETRAINED_SPECS}
FRAMES_PER_10S = {  # the AudioCaps protocol lengths; vggsound's 29 is a crop (see vggsound.py)
    "panns_cnn14": 31,
    "panns_cnn10": 62,
    "vggish": 10,
    "vggsound": 32,
    "efficient_latent": 32,
}
_CACHE: dict[str, torch.nn.Module] = {}


def random_model(name: str) -> torch.nn.Module:
    """One randomly initialised network per extractor for the whole module (building is slow)."""
    if name not in _CACHE:
        torch.manual_seed(0)
        _CACHE[name] = SPECS[name].build(weights="random")
    return _CACHE[name]


def official_keys(name: str) -> dict[str, tuple[int, ...]]:
    """``key [d0,d1,...]`` lines written from the official model definitions."""
    rows = {}
    for line in (KEYS_DIR / f"{name}.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            key, shape = line.split(" ")
            dims = shape.strip("[]")
            rows[key] = tuple(int(d) for d in dims.split(",")) if dims else ()
    return rows


def test_all_five_specs_are_listed():
    assert set(SPECS) == set(FRAMES_PER_10S)
    assert len(PRETRAINED_SPECS) == 5


@pytest.mark.parametrize("name", sorted(FRAMES_PER_10S))
def test_state_dict_matches_official_checkpoint_keys(name):
    own = {k: tuple(v.shape) for k, v in random_model(name).state_dict().items()}
    assert own == official_keys(name)


@pytest.mark.parametrize("name", sorted(FRAMES_PER_10S))
def test_ten_seconds_give_protocol_frames_and_dim(name):
    spec, model = SPECS[name], random_model(name)
    assert not model.training
    assert (model.sample_rate, model.dim) == (spec.sample_rate, spec.dim)
    assert model.frames_per_second == pytest.approx(spec.frames_per_second)
    wave = 0.1 * torch.randn(1, 10 * spec.sample_rate)
    with torch.no_grad():
        out = model(wave)
    assert out.shape == (1, FRAMES_PER_10S[name], spec.dim)
    assert torch.isfinite(out).all()
    assert model.frames_for(wave.shape[1]) == FRAMES_PER_10S[name]
    assert spec.frames_per_second * 10 == pytest.approx(FRAMES_PER_10S[name], abs=1.0)


@pytest.mark.parametrize("name", sorted(FRAMES_PER_10S))
def test_frames_for_agrees_with_output(name):
    spec, model = SPECS[name], random_model(name)
    for sec in (1.0, 1.37, 2.3) if name != "panns_cnn14" else (1.1, 2.3):
        n = int(sec * spec.sample_rate)
        with torch.no_grad():
            out = model(0.1 * torch.randn(1, n))
        assert out.shape == (1, model.frames_for(n), spec.dim), (name, n)


def test_vggish_too_short_gives_no_frames():
    model = random_model("vggish")
    with torch.no_grad():
        out = model(torch.zeros(1, 15000))
    assert out.shape == (1, 0, 128) and model.frames_for(15000) == 0


def test_vggsound_front_end_matches_scipy_spectrogram():
    rng = np.random.default_rng(0)
    wave = rng.uniform(-1.3, 1.3, size=(2, 9000))
    mine = random_model("vggsound").log_spectrogram(torch.tensor(wave, dtype=torch.float32))
    for row, got in zip(wave, mine, strict=True):
        _, _, psd = signal.spectrogram(np.clip(row, -1, 1), 16000, nperseg=512, noverlap=353)
        ref = np.log(psd + 1e-7)
        ref = (ref - ref.mean()) / (ref.std() + 1e-9)
        np.testing.assert_allclose(got.numpy(), ref, atol=1e-4)


def test_features_do_not_depend_on_the_batch():
    model = random_model("efficient_latent")
    a, b = 0.1 * torch.randn(1, 16000), 10.0 * torch.randn(1, 16000)
    with torch.no_grad():
        alone = model(a)
        batched = model(torch.cat([a, b]))[:1]
    torch.testing.assert_close(alone, batched, atol=1e-4, rtol=1e-4)


def _perturbed_state(name: str) -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    return {k: v + torch.randn_like(v) if v.is_floating_point() else v.clone() for k, v in
            random_model(name).state_dict().items()}  # fmt: skip


@pytest.mark.parametrize(
    ("name", "wrap"),
    [
        ("panns_cnn10", lambda sd: {"model": sd}),
        ("vggsound", lambda sd: {"model_state_dict": sd, "epoch": 12}),
        ("efficient_latent", lambda sd: sd),
        ("vggsound", lambda sd: {f"module.{k}": v for k, v in sd.items()}),
    ],
    ids=["panns-model", "vggsound-model_state_dict", "efficient_latent-plain", "dataparallel"],
)
def test_official_container_loads_strict_with_weights_only(tmp_path, name, wrap):
    state = _perturbed_state(name)
    path = tmp_path / "official.pth"
    torch.save(wrap(state), path)
    model = SPECS[name].build(weights=str(path))
    assert not model.training
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, state[key])


def test_environment_variable_supplies_weights(tmp_path, monkeypatch):
    state = _perturbed_state("panns_cnn10")
    path = tmp_path / "Cnn10_mAP=0.380.pth"
    torch.save({"model": state}, path)
    monkeypatch.setenv("ATR_BENCH_PANNS_CNN10_WEIGHTS", str(path))
    model = SPECS["panns_cnn10"].build()
    torch.testing.assert_close(model.fc1.weight, state["fc1.weight"])


@pytest.mark.parametrize("name", sorted(FRAMES_PER_10S))
def test_missing_weights_name_env_var_and_source(name, monkeypatch):
    source = SOURCES[name]
    monkeypatch.delenv(source.env_var, raising=False)
    with pytest.raises(AtrBenchError) as err:
        SPECS[name].build()
    message = str(err.value)
    assert source.env_var in message and source.url in message and "--weights" in message


def test_missing_file_and_non_checkpoint_are_clear_errors(tmp_path):
    model = random_model("vggsound")
    with pytest.raises(AtrBenchError, match=r"not found.*ATR_BENCH_VGGSOUND_WEIGHTS"):
        load_checkpoint(model, tmp_path / "H.pth.tar", "vggsound")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"this is not a checkpoint")
    with pytest.raises(AtrBenchError, match="not a loadable PyTorch checkpoint"):
        load_checkpoint(model, junk, "vggsound")
    nested = tmp_path / "nested.pth"
    torch.save({"epoch": 3, "note": "no weights"}, nested)
    with pytest.raises(AtrBenchError, match="hold no state dict"):
        load_checkpoint(model, nested, "vggsound")


def test_weights_only_refuses_pickled_code(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"model": random_model("panns_cnn10").state_dict(), "hook": Path("x")}, path)
    with pytest.raises(AtrBenchError, match="weights_only"):
        load_checkpoint(random_model("panns_cnn10"), path, "panns_cnn10")


def test_key_mismatch_lists_missing_and_unexpected_keys(tmp_path):
    state = dict(random_model("panns_cnn10").state_dict())
    del state["fc1.bias"]
    state["fc_extra.weight"] = torch.zeros(3)
    state["bn0.weight"] = torch.zeros(5)
    path = tmp_path / "wrong.pth"
    torch.save({"model": state}, path)
    with pytest.raises(AtrBenchError) as err:
        load_checkpoint(random_model("panns_cnn10"), path, "panns_cnn10")
    message = str(err.value)
    assert "missing keys: fc1.bias" in message
    assert "unexpected keys: fc_extra.weight" in message
    assert "bn0.weight (5,) != (64,)" in message


def test_vggish_pca_postprocessor_from_numpy_file(tmp_path):
    rng = np.random.default_rng(0)
    pca = tmp_path / "vggish_pca_params-970ea276.pth"
    torch.save(
        {"pca_eigen_vectors": rng.normal(size=(128, 128)), "pca_means": rng.normal(size=128)}, pca
    )
    model = SPECS["vggish"].build(weights="random", pca=str(pca))
    assert model.postprocess and "pca_matrix" not in model.state_dict()
    with torch.no_grad():
        out = model(0.1 * torch.randn(1, 16000))
    assert out.shape == (1, 1, 128)
    assert out.min() >= 0 and out.max() <= 255 and torch.equal(out, out.round())
    assert not random_model("vggish").postprocess
