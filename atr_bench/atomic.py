"""Atomic writes: a file is either its old self or completely new, never half-written."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temp file beside ``path``, fsync it, then rename over ``path``.
    The file gets the permissions of any new file under the user's umask (``mkstemp`` alone
    would leave it readable by its owner only, and a shared runs folder unreadable)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_json(path: Path, data: Any) -> Path:
    """Atomically write ``data`` as indented UTF-8 JSON."""
    text = json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n"
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def save_torch(path: Path, obj: Any) -> Path:
    """Atomically ``torch.save`` a checkpoint (read back with ``weights_only=True``)."""
    return atomic_write(path, lambda tmp: torch.save(obj, tmp))
