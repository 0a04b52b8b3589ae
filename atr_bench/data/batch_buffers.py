"""Host arrays for the batches a streamed split reads, each reused once nothing refers to it.

A batch of Clotho-shaped clips (128 x 90 x 2048 float32) is 94 MB. A new array for each is a
new mapping that the kernel must fault in and zero at every step: a third of the reading
thread's CPU time at that shape (66 against 44 ms a batch), taken from the two threads that
compute the step.
A lent array comes back when the last thing referring to it (the batch tensor, its views)
is gone, which ``weakref.finalize`` reports; until then it is never handed out again, so a
batch still in use is never overwritten.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np


class BatchBuffers:
    """At most ``keep`` float32 arrays, lent out as views of their first rows."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self._lock = threading.Lock()
        self._free: list[np.ndarray] = []
        self._owned = 0  # arrays of this pool, lent out or free

    def take(self, shape: tuple[int, int, int]) -> np.ndarray:
        """A float32 array of ``shape`` with undefined contents: the first rows of a free
        array of the same row shape where one is large enough, else a new array (kept for
        reuse while the pool holds fewer than ``keep``)."""
        with self._lock:
            base = self._reusable(shape)
            if base is None and self._owned < self.keep:
                base = np.empty(shape, dtype=np.float32)
                self._owned += 1
        if base is None:
            return np.empty(shape, dtype=np.float32)
        view = base[: shape[0]]
        weakref.finalize(view, self._give_back, base)
        return view

    def _reusable(self, shape: tuple[int, int, int]) -> np.ndarray | None:
        """Take a free array that fits ``shape``; one too small for it is dropped, so that the
        pool follows the largest batch it is asked for."""
        for i, base in enumerate(self._free):
            if base.shape[1:] == shape[1:] and base.shape[0] >= shape[0]:
                return self._free.pop(i)
        if self._free:
            self._free.pop(0)
            self._owned -= 1
        return None

    def _give_back(self, base: np.ndarray) -> None:
        with self._lock:
            self._free.append(base)
