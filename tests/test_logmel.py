"""The ``lms`` extractor: frame rate, frames_for agreeing with the output, mel band placement,
batching equal to one-by-one, and its spec."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from atr_bench.components.extractors import logmel
from atr_bench.components.extractors.logmel import LogMel
from atr_bench.components.extractors.plugin import atr_bench_extractors
from atr_bench.errors import AtrBenchError

RATE = 16000


@pytest.fixture(scope="module")
def model() -> LogMel:
    return LogMel()


def _tone(freq: float, seconds: float) -> torch.Tensor:
    t = torch.arange(int(seconds * RATE)) / RATE
    return 0.5 * torch.sin(2 * torch.pi * freq * t)


@pytest.mark.parametrize(("seconds", "frames"), [(1.0, 10), (10.0, 100)])
def test_shape_and_frame_rate(model: LogMel, seconds: float, frames: int) -> None:
    out = model(0.1 * torch.randn(2, int(seconds * RATE)))
    assert out.shape == (2, frames, 128)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    assert model.frames_per_second == 10.0 and model.sample_rate == RATE and model.dim == 128


@pytest.mark.parametrize(
    "n", [1, 2, 159, 1439, 1440, 1600, 3039, 3040, 4801, 16000, 16159, 16160, 24999]
)
def test_frames_for_equals_output_length(model: LogMel, n: int) -> None:
    assert model(torch.randn(1, n)).shape[1] == model.frames_for(n) >= 1


def test_pure_tone_lands_in_its_mel_band(model: LogMel) -> None:
    centres = librosa.mel_frequencies(n_mels=130, fmin=logmel.FMIN, fmax=logmel.FMAX)[1:-1]
    for freq in (440.0, 1000.0, 3000.0):
        out = model(_tone(freq, 1.0)[None])[0]  # [10, 128]
        band = int(out.mean(0).argmax())
        assert band == int(np.abs(centres - freq).argmin()), freq
        # the energy is concentrated: the peak band is far above the bands an octave away
        far = np.abs(np.log2(centres / freq)) > 1
        assert out.mean(0)[band] > out.mean(0)[torch.from_numpy(far)].max() + 5


def test_silence_is_log_epsilon(model: LogMel) -> None:
    out = model(torch.zeros(1, RATE))
    torch.testing.assert_close(out, torch.full_like(out, float(np.log(logmel.EPS))))


def test_batch_equals_one_by_one(model: LogMel) -> None:
    gen = torch.Generator().manual_seed(0)
    lengths = [RATE, 500, 2 * RATE + 77, 3040, RATE // 2]
    waves = [0.3 * torch.randn(n, generator=gen) for n in lengths]
    batch = torch.zeros(len(waves), max(lengths))
    for i, wave in enumerate(waves):
        batch[i, : len(wave)] = wave
    out = model(batch)
    for i, wave in enumerate(waves):
        alone = model(wave[None])[0]
        assert alone.shape[0] == model.frames_for(len(wave))
        torch.testing.assert_close(out[i, : alone.shape[0]], alone, atol=1e-4, rtol=1e-5)


def test_rejects_unbatched_wave(model: LogMel) -> None:
    with pytest.raises(ValueError, match=r"\[B, N\]"):
        model(torch.zeros(RATE))


def test_spec_builds_without_weights_only() -> None:
    (spec,) = [s for s in atr_bench_extractors() if s.name == "lms"]
    assert (spec.name, spec.dim, spec.sample_rate, spec.frames_per_second) == ("lms", 128, RATE, 10)
    built = spec.build()
    assert isinstance(built, LogMel) and not built.training
    assert list(built.state_dict()) == []  # nothing learned, nothing to load
    with pytest.raises(AtrBenchError, match="no learned parameters"):
        spec.build(weights="random")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(model: LogMel) -> None:
    wave = 0.1 * torch.randn(3, 2 * RATE)
    on_gpu = atr_bench_extractors()[0].build(device="cuda")
    assert on_gpu.mel_basis.is_cuda and on_gpu.window.is_cuda
    torch.testing.assert_close(on_gpu(wave.cuda()).cpu(), model(wave), atol=1e-3, rtol=1e-4)
