"""Atomic writes: a file is either its old self or completely new, never half-written."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from atr_bench.errors import AtrBenchError

HEADROOM = 1 << 20
"""Bytes a write must leave free: file-system and HDF5 metadata come on top of the data."""


def _free(folder: Path) -> int:
    return shutil.disk_usage(folder).free


def disk_full(folder: Path, exc: BaseException | None = None) -> AtrBenchError:
    """The one-line error for a full disk under ``folder``."""
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else ""
    why = f" ({str(text).splitlines()[0]})" if text else ""
    return AtrBenchError(
        f"{folder}: the disk is full{why}, {_free(folder) >> 10} KiB left; free some space and "
        "run the same command again (what was written before is intact, and an interrupted "
        "run resumes from its last saved epoch)"
    )


def require_free(folder: Path, nbytes: int) -> None:
    """Refuse before writing ``nbytes`` under ``folder`` when the disk cannot take them (a
    library that meets a full disk half-way may crash or leave a broken file)."""
    if _free(folder) < nbytes + HEADROOM:
        raise disk_full(folder)


def is_disk_full(exc: BaseException, folder: Path) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True  # torch reports a failed write as a RuntimeError without the errno
    return isinstance(exc, RuntimeError | OSError) and _free(folder) < HEADROOM


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a temp file beside ``path``, fsync it, then rename over ``path``.
    The file gets the permissions of any new file under the user's umask (``mkstemp`` alone
    would leave it readable by its owner only, and a shared runs folder unreadable)."""
    path = Path(path)
    tmp = _staged(path, write)
    try:
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


Writer = Callable[[Path, Callable[[Path], object]], Path]
"""``atomic_write``'s signature: what writes ``path`` through ``write(tmp)``."""


def _staged(path: Path, write: Callable[[Path], object]) -> Path:
    """The complete, fsynced temp file beside ``path`` that ``write(tmp)`` made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        os.chmod(tmp, 0o666 & ~current_umask())
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
    except BaseException as exc:
        tmp.unlink(missing_ok=True)  # first, so the free space counted is the real one
        if isinstance(exc, OSError | RuntimeError) and is_disk_full(exc, path.parent):
            raise disk_full(path.parent, exc) from None
        raise
    return tmp


@contextmanager
def replaced_together() -> Iterator[Writer]:
    """Atomic writes of several files that land together or not at all: each
    ``write(path, fill)`` in the body makes a complete temp file beside ``path``; when the body
    ends, every one is renamed over its path, and when it raises, every one is removed and no
    file is touched (a failed command leaves the user's files as they were)."""
    staged: list[tuple[Path, Path]] = []

    def write(path: Path, fill: Callable[[Path], object]) -> Path:
        path = Path(path)
        staged.append((_staged(path, fill), path))
        return path

    try:
        yield write
        for tmp, path in staged:
            os.replace(tmp, path)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)


def write_json(path: Path, data: Any, write: Writer = atomic_write) -> Path:
    """Atomically write ``data`` as indented UTF-8 JSON (through ``write``)."""
    text = json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n"
    return write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _tensor_bytes(obj: Any) -> int:
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(_tensor_bytes(v) for v in obj.values())
    if isinstance(obj, list | tuple):
        return sum(_tensor_bytes(v) for v in obj)
    return 0


def save_torch(path: Path, obj: Any) -> Path:
    """Atomically ``torch.save`` a checkpoint (read back with ``weights_only=True``), after
    checking that the disk has room for its tensors."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    require_free(path.parent, _tensor_bytes(obj))
    return atomic_write(path, lambda tmp: torch.save(obj, tmp))


def load_torch(path: Path, **kwargs: Any) -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)`` with torch's warnings about
    the file (its pickle protocol, ...) kept off the screen: a file that cannot be read is the
    caller's one-line error, and a warning printed around it would only bury it."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.load(path, map_location="cpu", weights_only=True, **kwargs)


@contextmanager
def exclusive(path: Path, waiting: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on ``<path>.lock`` so that two processes that would write
    ``path`` take turns; ``waiting`` is called once when another process holds it. The lock
    file is removed when released (before the lock is let go): a process that was waiting
    then holds a file no longer at that path, sees it and takes the lock again on the new one,
    so nothing is left behind and no two holders overlap."""
    lock = Path(path).with_name(Path(path).name + ".lock")
    told = False
    while True:
        try:
            lock.parent.mkdir(parents=True, exist_ok=True)
            handle = open(lock, "a+b")  # noqa: SIM115 (closed below)
        except OSError:  # a read-only folder: nobody can write there, so nothing to wait for
            yield
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting is not None and not told:
                waiting()
                told = True
            fcntl.flock(handle, fcntl.LOCK_EX)
        if _same_file(handle, lock):
            break
        handle.close()  # its holder removed it: lock the one now at that path
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def _same_file(handle: Any, path: Path) -> bool:
    """Whether the open ``handle`` is still the file at ``path``."""
    try:
        return os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False
