"""Resume files written while training goes on. On a GPU writing the full state after every
epoch (weights, optimiser moments, the best weights: about 1 GB at the AudioCaps shape) took
2-3 s of an 8 s epoch on an H200 machine; copying it to host memory takes a fraction of that,
and a thread can write the copy while the next epoch trains (``torch.save`` lets go of the
interpreter while it writes)."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch

from atr_bench.files.atomic import save_torch


def on_host(obj: Any) -> Any:
    """A copy of ``obj`` that later changes to its tensors, lists and dicts cannot reach:
    every tensor copied into host memory, every container rebuilt."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {key: on_host(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(on_host(value) for value in obj)
    return obj


class ResumeWriter:
    """Writes a run's resume file (atomically, ``save_torch``) after each epoch.

    With ``background`` (a run on a GPU), ``write`` waits for the file before, copies the state
    to host memory and hands the copy to a thread, so training goes on while it is written;
    an error of that write is raised by the next ``write`` or ``wait``, and ``close`` lets a
    write under way finish, so an interrupted run keeps its last finished epoch (a process
    killed outright during a write keeps the epoch before: the writes are atomic). Without it (a
    run on the CPU: a copy would add the state's size to the peak memory, and no device waits
    meanwhile) the file is written before ``write`` returns."""

    def __init__(self, background: bool) -> None:
        self._pool = ThreadPoolExecutor(1, "resume-file") if background else None
        self._pending: Future[Path] | None = None

    def write(self, path: Path, state: dict[str, Any]) -> None:
        """Write ``state`` to ``path`` (in the background: from a copy taken now)."""
        if self._pool is None:
            save_torch(path, state)
            return
        self.wait()
        self._pending = self._pool.submit(save_torch, path, on_host(state))

    def wait(self) -> None:
        """Return once every file handed over is written; raise the error of one that failed."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """Let a write under way finish (its error, if any, was the caller's to ``wait`` for)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
