"""HDF5 cache of token-level caption features, so a text encoder runs once per split. Per clip
id one float32 dataset of all its captions' tokens concatenated, with the per-caption token
counts in its ``lengths`` attribute; free-form metadata in the file's attributes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np

from atr_bench.errors import AtrBenchError
from atr_bench.files.atomic import atomic_write
from atr_bench.files.reading import check_regular


def _as_tokens(path: Path, clip_id: str, captions: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Float32 2-D arrays; an empty caption may come as any empty array."""
    out = []
    for i, caption in enumerate(captions):
        array = np.asarray(caption, dtype=np.float32)
        if array.size == 0:
            array = array.reshape(0, array.shape[-1] if array.ndim == 2 else 0)
        elif array.ndim != 2:
            raise AtrBenchError(
                f"{path}: clip {clip_id!r} caption {i} has shape {array.shape}, not [tokens, D]"
            )
        out.append(array)
    return out


def write_text_features(
    path: Path, features: Mapping[str, Sequence[np.ndarray]], meta: Mapping[str, str]
) -> Path:
    """Atomically write ``features`` (clip id -> one [n_tokens, D] array per caption)."""
    path = Path(path)
    arrays = {clip: _as_tokens(path, clip, caps) for clip, caps in features.items()}
    dims = {a.shape[1] for caps in arrays.values() for a in caps if len(a)}
    if len(dims) > 1:
        raise AtrBenchError(f"{path}: captions have different token dims {sorted(dims)}")
    dim = dims.pop() if dims else 0
    for clip_id in arrays:
        if not clip_id or "/" in clip_id:
            raise AtrBenchError(f"{path}: clip id {clip_id!r} cannot be an HDF5 name")

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as handle:
            handle.attrs.update({str(k): str(v) for k, v in meta.items()})
            for clip_id, captions in arrays.items():
                tokens = np.zeros((0, dim), np.float32)
                tokens = np.concatenate([tokens, *(a.reshape(len(a), dim) for a in captions)])
                dset = handle.create_dataset(clip_id, data=tokens)
                dset.attrs["lengths"] = np.array([len(a) for a in captions], dtype=np.int64)

    return atomic_write(path, write)


def _open(path: Path) -> h5py.File:
    if not path.exists():
        raise AtrBenchError(f"{path}: text feature cache not found")
    check_regular(path, "delete it and it is encoded again on the next run")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise AtrBenchError(
            f"{path}: not a readable HDF5 file ({str(exc).splitlines()[0]}); delete it and it "
            "is encoded again on the next run"
        ) from None


def read_text_features(path: Path) -> dict[str, list[np.ndarray]]:
    """Clip id -> one float32 [n_tokens, D] array per caption, captions in written order."""
    path = Path(path)
    out: dict[str, list[np.ndarray]] = {}
    with _open(path) as handle:
        for clip_id, dset in handle.items():
            lengths = np.asarray(dset.attrs.get("lengths", ()), dtype=np.int64)
            shape = getattr(dset, "shape", None)
            if shape is None or len(shape) != 2 or lengths.sum() != shape[0] or (lengths < 0).any():
                raise AtrBenchError(
                    f"{path}: clip {clip_id!r} is inconsistent with its caption lengths; delete "
                    "the file and it is encoded again on the next run"
                )
            tokens = np.empty(shape, dtype=np.float32)
            if tokens.size:
                dset.id.read(h5py.h5s.ALL, h5py.h5s.ALL, tokens)  # skips h5py's slicing layer
            out[clip_id] = np.split(tokens, np.cumsum(lengths)[:-1]) if len(lengths) else []
    return out


def read_text_meta(path: Path) -> dict[str, str]:
    """The metadata written with the features (e.g. encoder name and cache tag)."""
    path = Path(path)
    with _open(path) as handle:
        return {key: str(value) for key, value in handle.attrs.items()}
