"""Datasets of the real shapes with random values: AudioCaps- and Clotho-shaped files in the seed
layout (Index, one extractor's feature dumps, ``w2v_<split>.pkl``), at the real split sizes or
a fraction of them, so time and memory can be measured before the data is at hand. Nothing
learnable is in them: only the time and memory of a run on them mean anything."""

from __future__ import annotations

import errno
import math
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from atr_bench.data.export import write_text_pickle
from atr_bench.data.index import ClipCaptions, write_audiocaps_csv, write_clotho_json
from atr_bench.data.layout import SPLITS, DatasetLayout
from atr_bench.errors import AtrBenchError
from atr_bench.files.atomic import current_umask, disk_full, require_free

TEXT_DIM = 300
"""The seed's word2vec token vectors."""
WORDS = (5, 20)
"""Words per caption, drawn uniformly (AudioCaps' and Clotho's captions average 8-11)."""
PROVENANCE = {"weights": "random", "values": "random of the real shape (atr-bench data shaped)"}
"""Feature file attributes: runs on these files are recorded as untrained, off the boards."""


@dataclass(frozen=True)
class ShapeSpec:
    """A public dataset's shape: clips and captions per split, the seed layout's folder and
    index format, and the shortest clip as a fraction of the padded frame count."""

    name: str
    directory: str
    index_format: str
    clips: dict[str, int]
    captions: dict[str, int]
    shortest: float


SHAPES = {
    "audiocaps": ShapeSpec(
        "audiocaps",
        "AudioCaps",
        "csv",
        clips={"train": 49_838, "val": 495, "test": 975},
        captions={"train": 1, "val": 5, "test": 5},
        shortest=0.75,
    ),
    "clotho": ShapeSpec(
        "clotho",
        "Clotho",
        "json",
        clips={"train": 3_839, "val": 1_045, "test": 1_045},
        captions={"train": 5, "val": 5, "test": 5},
        shortest=0.5,
    ),
}
"""AudioCaps as the paper used it (train 49,838 x 1 caption, val 495 x 5, test 975 x 5) and
Clotho 2 (3,839 development clips, 1,045 each for validation and evaluation, 5 captions each;
clips of 15-30 s, so half of the padded length at the shortest)."""


@dataclass(frozen=True)
class ShapedReport:
    """What ``write_shaped`` wrote."""

    root: Path
    clips: dict[str, int]
    feature_bytes: int

    def summary(self) -> str:
        sizes = ", ".join(f"{split} {n}" for split, n in self.clips.items())
        return (
            f"wrote {self.root} ({sizes} clips; {self.feature_bytes / 1e9:.2f} GB of audio "
            "features): random values, for timing and memory only"
        )


def split_sizes(
    shape: ShapeSpec, fraction: float = 1.0, train_clips: int | None = None
) -> dict[str, int]:
    """Clips per split: the real sizes times ``fraction`` (at least 2 each), training set to
    ``train_clips`` when given."""
    if not (0 < fraction <= 1):
        raise AtrBenchError(f"--fraction {fraction}: expected a number in (0, 1]")
    sizes = {split: max(2, math.ceil(n * fraction)) for split, n in shape.clips.items()}
    if train_clips is not None:
        if train_clips < 2:
            raise AtrBenchError(f"--train-clips {train_clips}: expected at least 2")
        sizes["train"] = train_clips
    return sizes


def _lengths(rng: np.random.Generator, n: int, frames: int, shortest: float) -> np.ndarray:
    """Frames per clip: three in four clips full length, the rest shorter down to ``shortest``."""
    low = max(1, math.ceil(frames * shortest))
    short = rng.integers(low, frames + 1, size=n)
    return np.where(rng.random(n) < 0.75, frames, short)


def _clips(shape: ShapeSpec, split: str, n: int, rng: np.random.Generator) -> list[ClipCaptions]:
    vocabulary = ("a", "dog", "barks", "while", "rain", "falls", "on", "the", "roof", "loudly")
    out = []
    for i in range(n):
        captions = tuple(
            " ".join(rng.choice(vocabulary, size=int(rng.integers(*WORDS, endpoint=True))))
            for _ in range(shape.captions[split])
        )
        out.append(ClipCaptions(f"{split}{i:06d}", captions))
    return out


def _write_features(
    path: Path,
    clip_ids: list[str],
    lengths: np.ndarray,
    dim: int,
    rng: np.random.Generator,
    extractor: str,
    tick: Callable[[int], object],
) -> None:
    """One float32 ``[T, dim]`` dataset per clip."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as handle:
        handle.attrs.update({"extractor": extractor, **PROVENANCE})
        for clip_id, length in zip(clip_ids, lengths, strict=True):
            handle.create_dataset(clip_id, data=rng.standard_normal((int(length), dim), "f4"))
            tick(1)


def _text(
    clips: list[ClipCaptions], rng: np.random.Generator
) -> Iterator[tuple[str, list[np.ndarray]]]:
    for clip in clips:
        arrays = [
            rng.standard_normal((len(c.split()), TEXT_DIM), dtype=np.float32) for c in clip.captions
        ]
        yield clip.clip_id, arrays


def write_shaped(
    shape: ShapeSpec,
    out_root: Path,
    extractor: str,
    frames: int,
    dim: int,
    sizes: dict[str, int],
    seed: int = 0,
    progress: Callable[[int, str], Callable[[int], object]] | None = None,
) -> ShapedReport:
    """Write ``out_root/<shape.directory>/`` in the seed layout: ``Index``, ``AudioExpert/
    <extractor>/<split>/<extractor>.h5`` of ``[T <= frames, dim]`` clips, ``TextEmbeddings/
    w2v_<split>.pkl``. It is written in a hidden folder beside it and renamed when complete, so
    an interrupted write leaves nothing half-made; an existing dataset folder is refused."""
    layout = DatasetLayout(Path(out_root), shape.directory)
    if layout.path.exists():
        raise AtrBenchError(
            f"{layout.path}: already exists; give another --out (this command never writes "
            "into an existing dataset folder)"
        )
    feature_bytes = sum(sizes.values()) * frames * dim * 4
    layout.root.mkdir(parents=True, exist_ok=True)
    require_free(layout.root, feature_bytes)
    staging = Path(tempfile.mkdtemp(prefix=f".{shape.directory}.", dir=layout.root))
    staging.chmod(0o777 & ~current_umask())  # as any new folder, not mkdtemp's owner-only
    try:
        _write_splits(
            shape,
            DatasetLayout(staging.parent, staging.name),
            extractor,
            frames,
            dim,
            sizes,
            seed,
            progress,
        )
        staging.rename(layout.path)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise disk_full(layout.root, exc) from None
        raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ShapedReport(layout.path, sizes, feature_bytes)


def _write_splits(
    shape: ShapeSpec,
    layout: DatasetLayout,
    extractor: str,
    frames: int,
    dim: int,
    sizes: dict[str, int],
    seed: int,
    progress: Callable[[int, str], Callable[[int], object]] | None,
) -> None:
    rng = np.random.default_rng(seed)
    for split in SPLITS:
        clips = _clips(shape, split, sizes[split], rng)
        lengths = _lengths(rng, len(clips), frames, shape.shortest)
        tick = progress(len(clips), split) if progress else (lambda n: None)
        ids = [c.clip_id for c in clips]
        _write_features(layout.features(extractor, split), ids, lengths, dim, rng, extractor, tick)
        write_text_pickle(layout.text_pickle(split), dict(_text(clips, rng)))
        if shape.index_format == "csv":
            write_audiocaps_csv(layout.index_csv(split), clips)
        else:
            write_clotho_json(layout.index_json(split), clips)
