"""Run an extractor over many waves and append the features to an HDF5 feature store.

Waves of one batch are zero-padded to the longest (or handed over as they are to a ``Ragged``
extractor), run together under ``torch.no_grad`` on the device, and each output is cropped to
the frames of its own length (``frames_for``). Clips the store already holds are skipped, and
every batch is flushed as it is written, so an interrupted extraction resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sized
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from atr_bench.data.feature_store import FeatureWriter
from atr_bench.errors import AtrBenchError
from atr_bench.plugins.contract import Extractor, FramesFor, Ragged


def _as_wave(clip_id: str, wave: Any) -> np.ndarray:
    data = np.asarray(wave, dtype=np.float32)
    if data.ndim != 1 or data.size == 0:
        raise AtrBenchError(
            f"clip {clip_id!r}: expected a mono wave of >= 1 sample, got shape {data.shape}"
        )
    if not np.isfinite(data).all():
        raise AtrBenchError(f"clip {clip_id!r}: the wave contains NaN or inf samples")
    return data


class _BatchRunner:
    """Pads, runs and crops one batch; writes each clip's features to the store."""

    def __init__(self, extractor: Extractor, store: FeatureWriter, device: str) -> None:
        self.extractor, self.store, self.device = extractor, store, torch.device(device)
        self.frames_for = extractor.frames_for if isinstance(extractor, FramesFor) else None

    def run(self, batch: list[tuple[str, np.ndarray]]) -> None:
        with torch.no_grad():
            if isinstance(self.extractor, Ragged):
                waves = [torch.from_numpy(wave).to(self.device) for _, wave in batch]
                frames_out = self.extractor.ragged(waves)
            else:
                frames_out = self.extractor(self._padded(batch))
        out = frames_out.detach().float().cpu().numpy()
        for row, (clip_id, wave) in enumerate(batch):
            frames = out.shape[1] if self.frames_for is None else int(self.frames_for(len(wave)))
            if frames < 1:
                raise AtrBenchError(
                    f"clip {clip_id!r}: {len(wave)} samples are too short to give one frame"
                )
            if frames > out.shape[1]:
                raise AtrBenchError(
                    f"clip {clip_id!r}: the extractor gives {frames} frames for {len(wave)} "
                    f"samples but produced {out.shape[1]}; its frames_for is inconsistent"
                )
            self.store.write(clip_id, out[row, :frames])

    def _padded(self, batch: list[tuple[str, np.ndarray]]) -> torch.Tensor:
        longest = max(len(wave) for _, wave in batch)
        padded = np.zeros((len(batch), longest), dtype=np.float32)
        for row, (_, wave) in enumerate(batch):
            padded[row, : len(wave)] = wave
        return torch.from_numpy(padded).to(self.device)


def extract_to_store(
    extractor: Extractor,
    clips: Iterable[tuple[str, np.ndarray]],
    path: Path,
    batch_size: int = 32,
    device: str = "cpu",
    progress: bool = True,
    desc: str | None = None,
    provenance: Mapping[str, str] | None = None,
) -> int:
    """Extract ``(clip_id, wave)`` pairs (waves at the extractor's sample rate) into the
    feature file ``path``; returns how many clips were written now.

    An extractor without ``frames_for`` (``FramesFor``) cannot have padding cropped off its
    output, so its clips are run one at a time. An ``nn.Module`` extractor is moved to
    ``device`` in eval mode.
    """
    if batch_size < 1:
        raise AtrBenchError(f"batch size must be >= 1, got {batch_size}")
    if isinstance(extractor, nn.Module):
        extractor.to(device).eval()
    if not isinstance(extractor, FramesFor):
        batch_size = 1
    total = len(clips) if isinstance(clips, Sized) else None
    written = 0
    with (
        FeatureWriter(Path(path), provenance) as store,
        tqdm(total=total, desc=desc, unit="clip", disable=not progress) as bar,
    ):
        runner = _BatchRunner(extractor, store, device)
        batch: list[tuple[str, np.ndarray]] = []
        pending: set[str] = set()
        for clip_id, wave in clips:
            if clip_id in store or clip_id in pending:
                bar.update(1)
                continue
            batch.append((clip_id, _as_wave(clip_id, wave)))
            pending.add(clip_id)
            if len(batch) == batch_size:
                runner.run(batch)
                written += len(batch)
                bar.update(len(batch))
                batch, pending = [], set()
        if batch:
            runner.run(batch)
            written += len(batch)
            bar.update(len(batch))
    return written
