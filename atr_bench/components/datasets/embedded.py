"""The embedded dataset ``synthcaps`` as a dataset of the harness: generated on first use into
the seed layout (Clotho-style JSON index, HDF5 features), then read like any other."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import librosa
import numpy as np

from atr_bench.components.datasets.indexed import DatasetDefaults, IndexedDataset
from atr_bench.components.datasets.synthcaps import (
    SynthCapsConfig,
    SynthClip,
    clip_specs,
    order_contrast_pairs,
    render,
    write_index,
)
from atr_bench.data.extraction.extract import extract_to_store
from atr_bench.data.extraction.weights import spec_provenance
from atr_bench.data.feature_store import feature_dim, stored_clips
from atr_bench.data.index import ClipCaptions
from atr_bench.data.layout import SPLITS, DatasetLayout
from atr_bench.errors import AtrBenchError
from atr_bench.files.atomic import exclusive
from atr_bench.plugins.specs import ExtractorSpec

_log = logging.getLogger(__name__)

DIRECTORY = "SynthCaps"
ORDER_SPLIT = "order"
"""Where the order-contrast clips' features go, beside train/val/test."""


def directory_for(config: SynthCapsConfig) -> str:
    """``SynthCaps`` for the default configuration, ``SynthCaps-<hash>`` for any other, so that
    datasets of different sizes or seeds never overwrite each other."""
    if config == SynthCapsConfig():
        return DIRECTORY
    blob = json.dumps(dataclasses.asdict(config), sort_keys=True).encode()
    return f"{DIRECTORY}-{hashlib.sha256(blob).hexdigest()[:8]}"


@dataclass(frozen=True)
class SynthCapsDataset(IndexedDataset):
    """synthcaps: procedural sound events with order-aware captions (see DESIGN.md)."""

    config: SynthCapsConfig = field(default_factory=SynthCapsConfig)

    order_pairs: int = 100

    def clips(self, split: str) -> list[ClipCaptions]:
        if not all(self.layout.index_json(s).exists() for s in SPLITS):
            write_index(self.config, self.layout)
        return super().clips(split)

    def ensure_audio_features(
        self, extractor: ExtractorSpec, build: Mapping[str, Any], progress: bool = True
    ) -> None:
        """Render and extract whatever clips the feature stores lack (resumes after a crash)."""
        for split in SPLITS:
            self._extract(extractor, build, split, clip_specs(self.config, split), progress)

    def order_clips(self) -> list[ClipCaptions]:
        """The order-contrast set: clips ``2i`` and ``2i + 1`` hold the same two events in
        swapped order, and their captions say which order."""
        return [ClipCaptions(c.clip_id, c.captions) for c in self._order_specs()]

    def ensure_order_features(
        self, extractor: ExtractorSpec, build: Mapping[str, Any], progress: bool = True
    ) -> Path:
        """Extract the order-contrast clips into ``AudioExpert/<extractor>/order/``."""
        return self._extract(extractor, build, ORDER_SPLIT, self._order_specs(), progress)

    def _order_specs(self) -> list[SynthClip]:
        return [c for pair in order_contrast_pairs(self.config, self.order_pairs) for c in pair]

    def _extract(
        self,
        extractor: ExtractorSpec,
        build: Mapping[str, Any],
        split: str,
        clips: Sequence[SynthClip],
        progress: bool,
    ) -> Path:
        """Render and extract the clips the file lacks; two processes take turns (a lock)."""
        path = self.layout.features(extractor.name, split)
        with exclusive(path, lambda: _say_waiting(path)):
            done = stored_clips(path)
            if done and (dim := feature_dim(path)) != extractor.dim:
                raise AtrBenchError(
                    f"{path}: holds {dim}-d {extractor.name} features, but {extractor.name} now "
                    f"gives {extractor.dim} (atr-bench's lms had 64 bands before it took the "
                    f"paper's 128); synthcaps makes these files itself: delete "
                    f"{path.parent.parent} and they are made again"
                )
            todo = [c for c in clips if c.clip_id not in done]
            if todo:
                model = extractor.create(**build)
                extract_to_store(
                    model,
                    self._waves(todo, model.sample_rate),
                    path,
                    device=build.get("device", "cpu"),
                    progress=progress,
                    desc=f"{extractor.name} {self.name}/{split}",
                    provenance=spec_provenance(extractor, build.get("weights")),
                )
        return path

    def _waves(self, clips: Sequence[SynthClip], rate: int) -> Iterator[tuple[str, np.ndarray]]:
        for clip in clips:
            wave = render(clip, self.config)
            if rate != self.config.sample_rate:
                wave = librosa.resample(wave, orig_sr=self.config.sample_rate, target_sr=rate)
            yield clip.clip_id, wave


def _say_waiting(path: Path) -> None:
    _log.info("%s: another atr-bench process is writing it; waiting for it", path)


def synthcaps(root: Path, order_pairs: int = 100, **options: Any) -> SynthCapsDataset:
    if order_pairs < 0:
        raise AtrBenchError(f"synthcaps: order_pairs={order_pairs} must be >= 0")
    config = SynthCapsConfig(**options)
    defaults = DatasetDefaults(clip_seconds=config.duration, text_encoder="word2vec")
    layout = DatasetLayout(root, directory_for(config))
    return SynthCapsDataset("synthcaps", layout, defaults, "json", config, order_pairs)
