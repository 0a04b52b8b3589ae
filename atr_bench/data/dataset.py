"""Datasets in the seed layout: which clips and captions each split has, and protocol defaults."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atr_bench.data.index import ClipCaptions, read_audiocaps_csv, read_clotho_json
from atr_bench.data.layout import SPLITS, DatasetLayout
from atr_bench.errors import AtrBenchError
from atr_bench.plugins.specs import ExtractorSpec


@dataclass(frozen=True)
class DatasetDefaults:
    """What a run on a dataset takes from it unless told: the frames per extractor (the
    paper's released configs), the clip length that sets frames for other extractors, and
    the text encoder."""

    clip_seconds: float
    text_encoder: str
    audio_frames: Mapping[str, int] = field(default_factory=dict)

    def frames_for(self, extractor: ExtractorSpec) -> int:
        known = self.audio_frames.get(extractor.name)
        return known if known else math.ceil(self.clip_seconds * extractor.frames_per_second)


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


AUDIOCAPS_DEFAULTS = DatasetDefaults(
    clip_seconds=10.0,
    text_encoder="w2v",
    audio_frames={
        "vggish": 10,
        "panns_cnn10": 62,
        "panns_cnn14": 31,
        "vggsound": 29,
        "efficient_latent": 32,
        "lms": 10,
    },
)

CLOTHO_DEFAULTS = DatasetDefaults(
    clip_seconds=30.0,
    text_encoder="w2v",
    audio_frames={"vggish": 31, "panns_cnn10": 120, "panns_cnn14": 90, "vggsound": 95, "lms": 90},
)


def audiocaps(root: Path) -> IndexedDataset:
    return IndexedDataset("audiocaps", DatasetLayout(root, "AudioCaps"), AUDIOCAPS_DEFAULTS, "csv")


def clotho(root: Path) -> IndexedDataset:
    return IndexedDataset("clotho", DatasetLayout(root, "Clotho"), CLOTHO_DEFAULTS, "json")
