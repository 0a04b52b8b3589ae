"""A split's audio features read straight onto the device a run trains on, a block at a time,
so that host memory holds one block on the way rather than the whole split (which a read into
host memory followed by a copy to the GPU held twice, host and device, for a moment)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import torch

from atr_bench.data.feature_store import opened_clips, read_plain_rows, read_rows
from atr_bench.data.streamed import scan_blocks


def read_onto(
    path: Path,
    clip_ids: Sequence[str],
    frames: int,
    dim: int,
    device: torch.device,
    progress: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features of ``clip_ids`` as one float32 ``[N, frames, dim]`` tensor on ``device`` and
    their lengths ``[N]`` on the host: what ``read_features`` gives, read ``SCAN_BYTES`` of
    padded rows at a time into one host buffer (page-locked for a CUDA device) and copied from
    there, each block checked for NaN and inf before it goes."""
    ids = tuple(clip_ids)
    with opened_clips(path, ids, frames, dim) as (handle, _, layout):
        out = torch.empty((len(ids), frames, dim), dtype=torch.float32, device=device)
        if layout is None:
            lengths = _through_hdf5(path, handle, ids, out, progress)
        else:
            _plain(path, handle, ids, layout, out, progress)
            lengths = layout[1]
    return out, torch.from_numpy(lengths)


def _plain(
    path: Path,
    handle: h5py.File,
    ids: tuple[str, ...],
    layout: tuple[np.ndarray, np.ndarray],
    out: torch.Tensor,
    progress: bool,
) -> None:
    """Plain float32 clips, one ``pread`` each into the reused buffer, then copied on."""
    _, frames, dim = out.shape
    blocks = list(scan_blocks(len(ids), frames, dim, Path(path), progress, "loading"))
    rows = blocks[0].stop - blocks[0].start  # the first block is the largest
    pinned = out.device.type == "cuda"
    buffer = torch.empty((rows, frames, dim), dtype=torch.float32, pin_memory=pinned)
    fd = os.open(path, os.O_RDONLY)
    try:
        for block in blocks:
            held = buffer[: block.stop - block.start]
            read_plain_rows(
                path, handle, fd, ids, layout, range(block.start, block.stop), held.numpy()
            )
            out[block].copy_(held)  # waits for the copy: the buffer is reused next
    finally:
        os.close(fd)


def _through_hdf5(
    path: Path, handle: h5py.File, ids: tuple[str, ...], out: torch.Tensor, progress: bool
) -> np.ndarray:
    """Clips that are not all plain float32, read and checked through HDF5 a block at a time
    (``read_rows``, which also names what is wrong with a bad clip); their lengths."""
    _, frames, dim = out.shape
    lengths = np.empty(len(ids), dtype=np.int64)
    for block in scan_blocks(len(ids), frames, dim, Path(path), progress, "loading"):
        rows, lengths[block] = read_rows(path, handle, ids[block], frames, dim)
        out[block].copy_(torch.from_numpy(rows))
    return lengths
