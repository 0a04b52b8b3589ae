"""Per-query ranks of a run's test split, kept beside its record (``<run id>.ranks.npz``) so
any metric, interval or paired test can be recomputed later without the model.

Files written from record schema 4 on also hold how many items tie with each ranked one
(``t2a_tied``, ``caption_tied``): tie-averaged ranks alone cannot give back the first of the
tied positions, which the ties=hits R@k, nDCG@10 and MRR@10 need. Older files read without
them, and those metrics are then missing.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

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
    ``t2a_tied[i]``, ``caption_tied[i]``: how many items of that query share the ranked item's
    score, itself included (1: no tie), so that it holds positions ``rank - (tied - 1) / 2``
    to ``rank + (tied - 1) / 2``; None in files older than them.
    """

    t2a: np.ndarray
    caption: np.ndarray
    caption_clip: np.ndarray
    t2a_tied: np.ndarray | None = None
    caption_tied: np.ndarray | None = None

    @property
    def has_ties(self) -> bool:
        """Whether the tie counts are there (files from record schema 4 on)."""
        return self.t2a_tied is not None and self.caption_tied is not None

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


TIE_ARRAYS = ("t2a_tied", "caption_tied")
"""The tie counts' names in a ranks file (absent from files before record schema 4)."""


def ranks_path(runs_dir: Path, run_id: str) -> Path:
    check_name(run_id, "run id", MAX_RUN_ID)
    return inside(Path(runs_dir), f"{run_id}.ranks.npz")


def write_ranks(path: Path, ranks: QueryRanks) -> Path:
    """Write atomically (float64 ranks: tie-averaged halves are exact)."""
    arrays = {
        "t2a": np.asarray(ranks.t2a, dtype=np.float64),
        "caption": np.asarray(ranks.caption, dtype=np.float64),
        "caption_clip": np.asarray(ranks.caption_clip, dtype=np.int64),
    }
    for name in TIE_ARRAYS:
        tied = getattr(ranks, name)
        if tied is not None:
            arrays[name] = np.asarray(tied, dtype=np.int64)

    def write(tmp: Path) -> None:
        with tmp.open("wb") as f:
            np.savez_compressed(f, **arrays)  # type: ignore[arg-type]

    return atomic_write(path, write)


def read_ranks(path: Path, stream: BinaryIO | None = None) -> QueryRanks:
    """The ranks in ``path`` (or in ``stream``, a copy of it, e.g. a bundle's member, named
    ``path`` in errors); a clear error when it is missing or not a ranks file."""
    try:
        _check_sizes(stream or path)
        with np.load(stream or path, allow_pickle=False) as data:
            tied = {name: data[name] for name in TIE_ARRAYS if name in data.files}
            ranks = QueryRanks(data["t2a"], data["caption"], data["caption_clip"], **tied)
    except (OSError, KeyError, ValueError, MemoryError, zipfile.BadZipFile) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AtrBenchError(
            f"{path}: not a per-query ranks file ({why}); run the seed again with --force"
        ) from None
    problem = _ranks_problem(ranks)
    if problem is not None:
        raise AtrBenchError(f"{path}: {problem}; run the seed again with --force")
    return ranks


MAX_ARRAY_BYTES = 256 << 20
"""Largest array a ranks file may unpack to (32 million queries): a compressed member that
says more is refused before it is unpacked."""


def _check_sizes(source: Path | BinaryIO) -> None:
    """Refuse a ranks file whose arrays would unpack to more than ``MAX_ARRAY_BYTES`` each
    (``ValueError``); reading stops at the sizes checked here."""
    with zipfile.ZipFile(source) as archive:
        for info in archive.infolist():
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise ValueError(f"{info.filename} is packed in a way numpy never writes")
            if info.file_size > MAX_ARRAY_BYTES:
                raise ValueError(f"{info.filename} unpacks to more than {MAX_ARRAY_BYTES} bytes")
    if not isinstance(source, Path | str):
        source.seek(0)


def _ranks_problem(ranks: QueryRanks) -> str | None:
    """Why arrays read from a ranks file are not a test split's ranks, or None."""
    n = ranks.caption_clip.shape
    if ranks.t2a.shape != n or ranks.caption.shape != n or len(n) != 1 or n[0] == 0:
        return "ranks of different lengths, or none"
    if ranks.caption_clip.dtype.kind not in "iu":
        return "caption_clip is not whole numbers"
    if any(a.dtype.kind not in "fiu" for a in (ranks.t2a, ranks.caption)):
        return "ranks are not numbers"
    clips = np.unique(ranks.caption_clip)
    if clips[0] != 0 or clips[-1] != len(clips) - 1:
        return "caption_clip does not number the clips 0, 1, ... with a caption each"
    if (ranks.t2a_tied is None) != (ranks.caption_tied is None):
        return "tie counts of one direction only"
    for name, values, most in (("t2a", ranks.t2a, len(clips)), ("caption", ranks.caption, n[0])):
        if not (np.isfinite(values).all() and values.min() >= 1 and values.max() <= most):
            return f"{name} ranks outside 1..{most} (or not finite)"
        tied = getattr(ranks, f"{name}_tied")
        if tied is not None and not _ties_fit(values, tied, most):
            return f"{name}_tied does not fit the {name} ranks (tied positions outside 1..{most})"
    return None


def _ties_fit(ranks: np.ndarray, tied: np.ndarray, most: int) -> bool:
    """Whether each item's tied positions, ``rank - (tied - 1) / 2`` to ``rank + (tied - 1)
    / 2``, are whole numbers within ``1..most``."""
    if tied.shape != ranks.shape or tied.dtype.kind not in "iu":
        return False
    first = ranks - (tied - 1) / 2
    whole = np.array_equal(first, np.round(first))
    return whole and tied.min() >= 1 and first.min() >= 1 and (first + tied - 1).max() <= most


def ranks_disagree(test: dict[str, dict[str, float]], ranks: QueryRanks) -> str | None:
    """Which of a record's ``test`` metrics its ranks file gives otherwise (beyond rounding),
    or None: a ranks file of another run, or a record whose numbers were changed."""
    from atr_bench.run.metrics import metrics_from_ranks

    again = metrics_from_ranks(ranks)
    for direction, metrics in test.items():
        for key, value in metrics.items():
            other = again.get(direction, {}).get(key)
            if other is not None and not np.isclose(value, other, rtol=1e-6, atol=1e-6):
                return f"its test {direction} {key} is {value:g} but its ranks file gives {other:g}"
    return None


def read_record_ranks(
    runs_dir: Path, run_id: str, name: str, test: dict[str, dict[str, float]]
) -> QueryRanks:
    """The ranks file ``name`` that record ``run_id`` in ``runs_dir`` names, checked against
    the record's own ``test`` metrics; an error naming the file when it does not fit."""
    return record_ranks(inside(Path(runs_dir), name), run_id, test)


def record_ranks(
    path: Path, run_id: str, test: dict[str, dict[str, float]], stream: BinaryIO | None = None
) -> QueryRanks:
    """The ranks at ``path`` (or in ``stream``, named ``path``), checked against the ``test``
    metrics of record ``run_id``; an error naming the file when they do not fit."""
    ranks = read_ranks(path, stream)
    disagree = ranks_disagree(test, ranks)
    if disagree is not None:
        raise AtrBenchError(
            f"{path}: does not belong to run record {run_id} ({disagree}); run the seed again "
            "with --force"
        )
    return ranks
