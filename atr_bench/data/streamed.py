"""Stand-ins for a split's audio tensor when it does not fit where the model runs: rows read
from the HDF5 file a batch at a time (too large for host memory), or kept in host memory and
copied to the GPU a batch at a time (too large for the GPU's). Indexed rows equal the loaded
tensor's rows, so a run gives the same numbers either way."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch
from tqdm import tqdm

from atr_bench.data.feature_store import (
    first_nonfinite_row,
    nonfinite_clip,
    open_for_reading,
    opened_clips,
    pread_rows,
    read_rows,
)
from atr_bench.data.stream_modes import STREAM_ABOVE_BYTES, STREAM_MODES
from atr_bench.errors import AtrBenchError

SCAN_BYTES = 64 << 20
"""Opening a streamed split reads it once, this many bytes of padded rows at a time, to check
every clip (shape, NaN, inf) before training starts rather than in the middle of it."""


AHEAD = 2
"""Batches read ahead at most (``StreamedFeatures.prefetch``)."""


class StreamedFeatures:
    """Stands in for the ``[N, frames, dim]`` audio tensor of a split: indexing it with a slice
    or a tensor of row numbers reads those clips from the file onto ``device``. ``prefetch``
    starts reading the next batch's rows in a thread while the current one is computed."""

    def __init__(
        self,
        path: Path,
        clip_ids: Sequence[str],
        frames: int,
        dim: int,
        device: str = "cpu",
        places: ClipPlaces | None = None,
    ):
        self.path, self.clip_ids = Path(path), tuple(clip_ids)
        self.frames, self.dim, self.device = frames, dim, torch.device(device)
        self.shape = torch.Size((len(self.clip_ids), frames, dim))
        self.places = places
        self._handle: h5py.File | None = None
        self._fd: int | None = None
        self._reader: ThreadPoolExecutor | None = None
        self._ahead: dict[tuple[int, ...], Future[torch.Tensor]] = {}

    def __len__(self) -> int:
        return len(self.clip_ids)

    def to(self, device: torch.device | str) -> StreamedFeatures:
        return StreamedFeatures(
            self.path, self.clip_ids, self.frames, self.dim, str(device), self.places
        )

    def _rows(self, index: slice | torch.Tensor) -> tuple[int, ...]:
        return tuple(range(len(self))[index] if isinstance(index, slice) else index.tolist())

    def prefetch(self, index: slice | torch.Tensor) -> None:
        """Start reading ``index``'s rows in the background; a later ``self[index]`` with the
        same rows takes them (any other index reads as usual). The reads ahead of the last
        ``AHEAD`` calls are kept: a training loop asks for the next batch while the current
        one, asked for a step earlier, is still to be taken."""
        if self._reader is None:
            self._reader = ThreadPoolExecutor(1, thread_name_prefix="atr-bench-read")
        rows = self._rows(index)
        self._ahead[rows] = self._reader.submit(self._read, rows)
        while len(self._ahead) > AHEAD:
            del self._ahead[next(iter(self._ahead))]  # the thread reads it anyway, unused

    def __getitem__(self, index: slice | torch.Tensor) -> torch.Tensor:
        rows = self._rows(index)
        ahead = self._ahead.pop(rows, None)
        if ahead is not None:
            return ahead.result()
        for pending in self._ahead.values():
            pending.result()  # one reader of the file at a time
        return self._read(rows)

    def _read(self, rows: tuple[int, ...]) -> torch.Tensor:
        """The rows in the order asked, each clip read once: straight from the file where its
        clips lie there as float32 (one ``pread`` each), else through HDF5."""
        unique = list(dict.fromkeys(rows))
        if self.places is not None:
            out = self._pread(unique, self.places)
        else:
            if self._handle is None:  # opened on first use, read-only: runs may share it
                self._handle = open_for_reading(self.path)
            ids = [self.clip_ids[i] for i in unique]
            out, _ = read_rows(self.path, self._handle, ids, self.frames, self.dim, checked=True)
        if len(unique) < len(rows):
            position = {row: i for i, row in enumerate(unique)}
            out = out[[position[row] for row in rows]]
        return torch.from_numpy(out).to(self.device)

    def first_nonfinite(self, progress: bool = True) -> int | None:
        """Read every clip once, ``SCAN_BYTES`` of padded rows at a time into one array; the
        row of the first clip with NaN or inf in its features, or None. Needs ``places``."""
        places = self.places
        if places is None:
            raise ValueError("first_nonfinite reads clips by their places; these have none")
        buffer: np.ndarray | None = None
        for block in scan_blocks(len(self), self.frames, self.dim, self.path, progress):
            rows = list(range(block.start, block.stop))
            if buffer is None:  # the first block is the largest
                buffer = np.empty((len(rows), self.frames, self.dim), dtype=np.float32)
            bad = first_nonfinite_row(self._pread(rows, places, buffer[: len(rows)]))
            if bad is not None:
                return block.start + bad
        return None

    def _pread(
        self, rows: list[int], places: ClipPlaces, out: np.ndarray | None = None
    ) -> np.ndarray:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        if out is None:
            out = np.empty((len(rows), self.frames, self.dim), dtype=np.float32)
        short = pread_rows(self._fd, rows, places.offsets, places.lengths, out)
        if short is not None:
            raise AtrBenchError(
                f"{self.path}: clip {self.clip_ids[short]!r} is no longer where it was when "
                "the split was opened (the file changed during the run); run it again"
            )
        return out


@dataclass(frozen=True)
class ClipPlaces:
    """Each clip's byte offset in its feature file and its frame count (at most the padded
    length), for reading its rows without HDF5."""

    offsets: np.ndarray
    lengths: np.ndarray


def prefetch(audio: object, index: slice | torch.Tensor) -> None:
    """Read ``audio[index]`` ahead where the audio is streamed from disk (else nothing to do)."""
    if isinstance(audio, StreamedFeatures):
        audio.prefetch(index)


class HostRows:
    """A split's audio tensor kept in host memory: indexed rows are copied to ``device``."""

    def __init__(self, data: torch.Tensor, device: str = "cpu"):
        self.data, self.device, self.shape = data, torch.device(device), data.shape

    def __len__(self) -> int:
        return len(self.data)

    def to(self, device: torch.device | str) -> HostRows:
        return HostRows(self.data, str(device))

    def __getitem__(self, index: slice | torch.Tensor) -> torch.Tensor:
        if isinstance(index, torch.Tensor):
            index = index.cpu()
        return self.data[index].to(self.device)


def room_on_device(device: torch.device, nbytes: int) -> bool:
    """Whether ``nbytes`` of audio fit in half of the free memory of a CUDA device (host
    memory is where the audio already is, so it always has room)."""
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return nbytes <= free // 2


def open_streamed(
    path: Path, clip_ids: Sequence[str], frames: int, dim: int, progress: bool = True
) -> tuple[StreamedFeatures, torch.Tensor]:
    """The split's streamed features and their lengths, after one checking pass over the file
    (bounded memory: ``SCAN_BYTES`` at a time)."""
    ids = tuple(clip_ids)
    with opened_clips(path, ids, frames, dim) as (handle, _, layout):
        if layout is None:
            return _open_through_hdf5(path, handle, ids, frames, dim, progress)
        places = ClipPlaces(*layout)
        features = StreamedFeatures(Path(path), ids, frames, dim, places=places)
        bad = features.first_nonfinite(progress)
        if bad is not None:
            raise nonfinite_clip(path, handle, ids[bad])
    return features, torch.from_numpy(places.lengths)


def _open_through_hdf5(
    path: Path, handle: h5py.File, ids: tuple[str, ...], frames: int, dim: int, progress: bool
) -> tuple[StreamedFeatures, torch.Tensor]:
    """``open_streamed`` for a file whose clips are not all plain float32 rows: each clip read
    and checked through HDF5, which also names what is wrong with a bad one; its batches are
    read through HDF5 too."""
    lengths = np.empty(len(ids), dtype=np.int64)
    for block in scan_blocks(len(ids), frames, dim, path, progress):
        _, lengths[block] = read_rows(path, handle, ids[block], frames, dim)
    return StreamedFeatures(Path(path), ids, frames, dim), torch.from_numpy(lengths)


def scan_blocks(
    count: int, frames: int, dim: int, path: Path, progress: bool, doing: str = "checking"
) -> Iterator[slice]:
    """The blocks of clips a pass over a feature file reads at a time (``SCAN_BYTES`` of
    padded rows, the first block the largest), behind a progress bar that says what it is
    ``doing``."""
    step = max(1, SCAN_BYTES // (frames * dim * 4))
    starts = range(0, count, step)
    for start in tqdm(starts, desc=f"{doing} {path.name}", disable=not progress):
        yield slice(start, min(start + step, count))


def memory_bytes() -> int | None:
    """This machine's physical memory, where the platform says."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def should_stream(mode: str, padded_bytes: int, device_type: str = "cpu") -> bool:
    """``always``/``never``, or ``auto``: on the CPU, stream when the padded audio of all
    splits is over ``STREAM_ABOVE_BYTES``; on any device, when it would take more than half of
    the machine's memory."""
    if mode not in STREAM_MODES:
        raise AtrBenchError(
            f"--stream-features {mode!r}: expected one of {', '.join(STREAM_MODES)}"
        )
    if mode != "auto":
        return mode == "always"
    if device_type == "cpu" and padded_bytes > STREAM_ABOVE_BYTES:
        return True
    memory = memory_bytes()
    return memory is not None and padded_bytes > memory // 2
