"""AudioCaps and Clotho in the seed layout (datasets whose Index files and feature dumps already
exist), and ``DatasetDefaults``: what a run on a dataset takes from it unless told."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atr_bench.data.index import ClipCaptions, read_audiocaps_csv, read_clotho_json
from atr_bench.data.layout import SPLITS, DatasetLayout
from atr_bench.errors import AtrBenchError
from atr_bench.plugins.specs import ExtractorSpec


@dataclass(frozen=True)
class DatasetDefaults:
    """What a run on a dataset takes from it unless told (or unless its protocol chose it,
    as the paper's protocols chose frames per extractor): the clip length, which sets the
    frames kept per clip, and the text encoder."""

    clip_seconds: float
    text_encoder: str

    def frames_for(self, extractor: ExtractorSpec) -> int:
        """Frames a clip of this dataset gives at ``extractor``'s frame rate."""
        return math.ceil(self.clip_seconds * extractor.frames_per_second)


@dataclass(frozen=True)
class IndexedDataset:
    """A dataset whose Index files (AudioCaps CSV or Clotho JSON) and feature dumps already
    exist under ``layout``; the harness never creates them for it."""

    name: str
    layout: DatasetLayout
    defaults: DatasetDefaults
    index_format: str  # "csv" (AudioCaps) or "json" (Clotho)

    def clips(self, split: str) -> list[ClipCaptions]:
        if split not in SPLITS:
            raise AtrBenchError(f"unknown split {split!r}; splits are {', '.join(SPLITS)}")
        if self.index_format == "csv":
            return read_audiocaps_csv(self.layout.index_csv(split))
        return read_clotho_json(self.layout.index_json(split))

    def ensure_audio_features(
        self, extractor: ExtractorSpec, build: Mapping[str, Any], progress: bool = True
    ) -> None:
        """Check that every split's feature dump exists; say how to make a missing one."""
        for split in SPLITS:
            path = self.layout.features(extractor.name, split)
            if not path.exists():
                raise AtrBenchError(
                    f"{path}: no {extractor.name} features for {self.name}/{split}; create them "
                    f"with `atr-bench extract --dataset {self.name} --extractor {extractor.name} "
                    "--audio-dir DIR` or copy the seed's feature dump there"
                )


AUDIOCAPS_DEFAULTS = DatasetDefaults(clip_seconds=10.0, text_encoder="w2v")
CLOTHO_DEFAULTS = DatasetDefaults(clip_seconds=30.0, text_encoder="w2v")


def audiocaps(root: Path) -> IndexedDataset:
    return IndexedDataset("audiocaps", DatasetLayout(root, "AudioCaps"), AUDIOCAPS_DEFAULTS, "csv")


def clotho(root: Path) -> IndexedDataset:
    return IndexedDataset("clotho", DatasetLayout(root, "Clotho"), CLOTHO_DEFAULTS, "json")
