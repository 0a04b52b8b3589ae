"""Read the seed's ``w2v_<split>.pkl`` text features without trusting pickle: a restricted
unpickler resolves only numpy's array/dtype/scalar rebuilders and plain builtin types, so a
tampered file cannot run code."""

from __future__ import annotations

import codecs
import importlib
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from atr_bench.errors import AtrBenchError

W2V_DIM = 300

_NUMPY_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
}
"""numpy's rebuilders, named as numpy 1 pickles them; numpy 2 spells ``numpy.core`` as
``numpy._core`` and both spellings are accepted."""


def _latin1(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it to store bytes: latin-1 only (another
    codec could be anything from a compression library to an unknown name)."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"bytes stored with codec {encoding!r}, not latin1")
    return codecs.encode(text, "latin1")


_OTHER_GLOBALS = {
    **{("builtins", t.__name__): t for t in (dict, list, str, int, float, tuple)},
    ("_codecs", "encode"): _latin1,  # how protocol 2 pickles store bytes
}


def _canonical(module: str) -> str:
    return module.replace("numpy._core", "numpy.core", 1)


def _resolve(module: str, name: str) -> Any:
    """The object for an allowed global, imported from numpy's current home for it."""
    if module == "numpy":
        return getattr(np, name)
    current = module.replace("numpy.core", "numpy._core", 1)
    try:
        return getattr(importlib.import_module(current), name)
    except ImportError:  # numpy 1 has no numpy._core
        return getattr(importlib.import_module(module), name)


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, handle: Any, path: Path, size: int) -> None:
        super().__init__(handle)
        self._path = path
        self._size = size

    def find_class(self, module: str, name: str) -> Any:
        if (_canonical(module), name) == ("numpy.core.multiarray", "_reconstruct"):
            return self._reconstruct
        if (_canonical(module), name) in _NUMPY_GLOBALS:
            return _resolve(_canonical(module), name)
        if (module, name) in _OTHER_GLOBALS:
            return _OTHER_GLOBALS[module, name]
        raise AtrBenchError(
            f"{self._path}: refusing to unpickle forbidden global {module}.{name}; the file is "
            "not a plain text-feature pickle (replace it with the seed's original)"
        )

    def _reconstruct(self, subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
        """numpy's array rebuilder, refusing an array larger than the whole file (numpy
        pickles an empty one here and fills it from the file's bytes)."""
        if subtype is not np.ndarray:
            raise pickle.UnpicklingError("an array of another type than numpy.ndarray")
        count = np.prod(np.asarray(shape, dtype=np.int64)) if np.ndim(shape) else int(shape)
        if not 0 <= int(count) <= self._size:
            raise pickle.UnpicklingError(
                f"an array of {count} elements in a {self._size}-byte file"
            )
        return np.ndarray(shape, dtype=np.dtype(dtype))


UNPICKLING_ERRORS = (
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    LookupError,
    OverflowError,
    MemoryError,
    RecursionError,
)
"""What a malformed pickle can raise under the restricted unpickler (it runs no code of its
own: every one of these means the file is not a text-feature pickle)."""


def load_pickle(path: Path) -> Any:
    """Unpickle ``path`` allowing only numpy arrays and builtin containers / scalars."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise AtrBenchError(f"{path}: not a file; put the seed's text feature pickle there")
    try:
        with open(path, "rb") as handle:
            return _RestrictedUnpickler(handle, path, path.stat().st_size).load()
    except FileNotFoundError:
        raise AtrBenchError(
            f"{path}: text feature pickle not found; copy the seed's TextEmbeddings there"
        ) from None
    except UNPICKLING_ERRORS as exc:
        raise AtrBenchError(
            f"{path}: corrupt or truncated pickle ({type(exc).__name__}: {exc}); replace it "
            "with the seed's original"
        ) from None


def load_text_pickle(path: Path) -> dict[str, list[np.ndarray]]:
    """The seed's precomputed word2vec features: clip id -> one float32 [n_words, 300] array
    per caption (an empty caption becomes a [0, 300] array)."""
    path = Path(path)
    data = load_pickle(path)
    if not isinstance(data, dict):
        raise AtrBenchError(f"{path}: expected a dict of clip id -> captions, got {type(data)}")
    out: dict[str, list[np.ndarray]] = {}
    for clip_id, captions in data.items():
        if not isinstance(clip_id, str) or not isinstance(captions, (list, tuple)):
            raise AtrBenchError(
                f"{path}: entry {clip_id!r} is not clip id -> list of caption arrays"
            )
        out[clip_id] = [_caption(path, clip_id, i, c) for i, c in enumerate(captions)]
    return out


def _caption(path: Path, clip_id: str, index: int, array: Any) -> np.ndarray:
    where = f"{path}: clip {clip_id!r} caption {index}"
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "fiu":
        raise AtrBenchError(f"{where} is not a numeric array")
    if array.size == 0:
        return np.zeros((0, W2V_DIM), dtype=np.float32)
    if array.ndim != 2 or array.shape[1] != W2V_DIM:
        raise AtrBenchError(f"{where} has shape {array.shape}; expected [n_words, {W2V_DIM}]")
    if not np.isfinite(array).all():
        raise AtrBenchError(f"{where} contains NaN or inf")
    return np.ascontiguousarray(array, dtype=np.float32)
