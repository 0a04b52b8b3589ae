"""extract_to_store: batches of different lengths cropped per clip, resume, skips, errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from atr_bench.components.extractors.logmel import LogMel
from atr_bench.data.extraction.extract import extract_to_store
from atr_bench.errors import AtrBenchError

RATE = 16000


class Counting(LogMel):
    """LogMel that records the clip lengths of every batch it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        assert not torch.is_grad_enabled()
        self.batches.append(wave.shape[0])
        return super().forward(wave)


def _clips(n: int = 7) -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    lengths = [RATE, RATE // 3, 2 * RATE + 123, 700, RATE + 1600, 3 * RATE, 5000][:n]
    return [
        (f"clip{i}", (0.2 * rng.standard_normal(k)).astype(np.float32))
        for i, k in enumerate(lengths)
    ]


def _stored(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as handle:
        return {k: handle[k][()] for k in handle if isinstance(handle[k], h5py.Dataset)}


def test_writes_every_clip_cropped_to_its_own_length(tmp_path: Path) -> None:
    model, clips, path = Counting(), _clips(), tmp_path / "lms" / "train" / "lms.h5"
    assert extract_to_store(model, iter(clips), path, batch_size=3, progress=False) == 7
    assert model.batches == [3, 3, 1]
    stored = _stored(path)
    assert sorted(stored) == [c for c, _ in sorted(clips)]
    for clip_id, wave in clips:
        with torch.no_grad():
            alone = LogMel()(torch.from_numpy(wave)[None])[0].numpy()
        assert stored[clip_id].shape == (LogMel.frames_for(len(wave)), 128)
        np.testing.assert_allclose(stored[clip_id], alone, atol=1e-4)


def test_resume_writes_only_missing_clips(tmp_path: Path) -> None:
    clips, path = _clips(), tmp_path / "lms.h5"
    assert extract_to_store(LogMel(), clips[:3], path, batch_size=2, progress=False) == 3
    first = _stored(path)
    model = Counting()
    assert extract_to_store(model, clips, path, batch_size=2, progress=False) == 4
    assert sum(model.batches) == 4  # the three stored clips were not run again
    after = _stored(path)
    assert sorted(after) == sorted(c for c, _ in clips)
    for clip_id, features in first.items():
        np.testing.assert_array_equal(after[clip_id], features)
    assert extract_to_store(model, clips, path, progress=False) == 0


def test_interrupted_run_keeps_finished_batches(tmp_path: Path) -> None:
    clips, path = _clips(), tmp_path / "lms.h5"

    def failing() -> Iterator[tuple[str, np.ndarray]]:
        yield from clips[:3]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        extract_to_store(LogMel(), failing(), path, batch_size=2, progress=False)
    assert sorted(_stored(path)) == ["clip0", "clip1"]
    assert extract_to_store(LogMel(), clips, path, batch_size=2, progress=False) == 5


def test_duplicate_ids_are_written_once(tmp_path: Path) -> None:
    clips = _clips(2)
    assert extract_to_store(LogMel(), clips + clips[:1], tmp_path / "f.h5", progress=False) == 2


def test_bad_waves_name_the_clip(tmp_path: Path) -> None:
    with pytest.raises(AtrBenchError, match=r"clip 'empty'.*>= 1 sample"):
        extract_to_store(LogMel(), [("empty", np.zeros(0))], tmp_path / "f.h5", progress=False)
    with pytest.raises(AtrBenchError, match=r"clip 'stereo'.*mono"):
        extract_to_store(LogMel(), [("stereo", np.zeros((2, 99)))], tmp_path / "f.h5")
    with pytest.raises(AtrBenchError, match=r"clip 'nan'.*NaN"):
        extract_to_store(LogMel(), [("nan", np.full(RATE, np.nan))], tmp_path / "f.h5")


class NoFramesFor:
    """An extractor without frames_for: one frame per 1000 samples, summed."""

    sample_rate, dim, frames_per_second = RATE, 1, 16.0

    def __init__(self) -> None:
        self.batches: list[int] = []

    def __call__(self, wave: torch.Tensor) -> torch.Tensor:
        self.batches.append(wave.shape[0])
        return (
            wave[:, : wave.shape[1] // 1000 * 1000]
            .reshape(wave.shape[0], -1, 1000)
            .sum(-1, keepdim=True)
        )


def test_extractor_without_frames_for_runs_clip_by_clip(tmp_path: Path) -> None:
    model = NoFramesFor()
    clips = [("a", np.ones(3000)), ("b", np.ones(5500))]
    assert extract_to_store(model, clips, tmp_path / "f.h5", batch_size=8, progress=False) == 2
    assert model.batches == [1, 1]
    stored = _stored(tmp_path / "f.h5")
    assert stored["a"].shape == (3, 1) and stored["b"].shape == (5, 1)


def test_progress_bar_uses_desc(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    extract_to_store(LogMel(), _clips(2), tmp_path / "f.h5", desc="lms synthcaps/train")
    assert "lms synthcaps/train" in capsys.readouterr().err
