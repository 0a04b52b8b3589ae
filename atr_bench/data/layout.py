"""Where each file of a dataset lives in the seed layout (see DESIGN.md "Data layout")."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class DatasetLayout:
    """The paths of one dataset directory ``root/directory`` (e.g. ``data/AudioCaps``)."""

    root: Path
    directory: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def path(self) -> Path:
        return self.root / self.directory

    def index_csv(self, split: str) -> Path:
        """AudioCaps-style index: ``Index/<split>.csv``."""
        return self.path / "Index" / f"{split}.csv"

    def index_json(self, split: str) -> Path:
        """Clotho-style index: ``Index/<split>.json``."""
        return self.path / "Index" / f"{split}.json"

    def features(self, extractor: str, split: str) -> Path:
        """Audio feature dump: ``AudioExpert/<extractor>/<split>/<extractor>.h5``."""
        return self.path / "AudioExpert" / extractor / split / f"{extractor}.h5"

    def text_pickle(self, split: str) -> Path:
        """The seed's precomputed word2vec features: ``TextEmbeddings/w2v_<split>.pkl``."""
        return self.path / "TextEmbeddings" / f"w2v_{split}.pkl"

    def text_cache(self, encoder: str, split: str, tag: str = "") -> Path:
        """HDF5 cache of encoded captions: ``TextEmbeddings/<encoder>[-<tag>]_<split>.h5``."""
        name = f"{encoder}-{tag}" if tag else encoder
        return self.path / "TextEmbeddings" / f"{name}_{split}.h5"
