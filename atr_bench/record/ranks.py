"""Per-query ranks of a run's test split, kept beside its record (``<run id>.ranks.npz``) so
any metric, interval or paired test can be recomputed later without the model."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from atr_bench.errors import AtrBenchError
from atr_bench.files.atomic import atomic_write
from atr_bench.files.names import MAX_RUN_ID, check_name, inside


@dataclass(frozen=True, eq=False)
class QueryRanks:
    """Tie-averaged, 1-based ranks of the test split.

    ``t2a[i]``: rank of caption i's clip among all clips (caption i's query).
    ``caption[i]``: rank of caption i among all captions in its clip's query.
    ``caption_clip[i]``: the clip caption i describes. A clip's a2t rank is the best rank of
    its captions.
    """

    t2a: np.ndarray
    caption: np.ndarray
    caption_clip: np.ndarray

    @property
    def n_clips(self) -> int:
        return int(self.caption_clip.max()) + 1

    @property
    def a2t(self) -> np.ndarray:
        """Per clip, the rank of its best-ranked caption."""
        best = np.full(self.n_clips, np.inf)
        np.minimum.at(best, self.caption_clip, self.caption)
        return best

    def same_queries(self, other: QueryRanks) -> bool:
        """Whether both rank the same test queries (so they can be paired)."""
        return np.array_equal(self.caption_clip, other.caption_clip)


def ranks_path(runs_dir: Path, run_id: str) -> Path:
    check_name(run_id, "run id", MAX_RUN_ID)
    return inside(Path(runs_dir), f"{run_id}.ranks.npz")


def write_ranks(path: Path, ranks: QueryRanks) -> Path:
    """Write atomically (float64 ranks: tie-averaged halves are exact)."""

    def write(tmp: Path) -> None:
        with tmp.open("wb") as f:
            np.savez_compressed(
                f,
                t2a=np.asarray(ranks.t2a, dtype=np.float64),
                caption=np.asarray(ranks.caption, dtype=np.float64),
                caption_clip=np.asarray(ranks.caption_clip, dtype=np.int64),
            )

    return atomic_write(path, write)


def read_ranks(path: Path) -> QueryRanks:
    """The ranks in ``path``; a clear error when the file is missing or not a ranks file."""
    try:
        with np.load(path, allow_pickle=False) as data:
            ranks = QueryRanks(data["t2a"], data["caption"], data["caption_clip"])
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise AtrBenchError(
            f"{path}: not a per-query ranks file ({exc}); run the seed again with --force"
        ) from None
    n = ranks.caption_clip.shape
    if ranks.t2a.shape != n or ranks.caption.shape != n or len(n) != 1:
        raise AtrBenchError(f"{path}: ranks of different lengths; run the seed again with --force")
    return ranks
