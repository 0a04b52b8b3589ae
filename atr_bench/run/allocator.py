"""Large tensors reuse freed heap memory instead of fresh mappings.

glibc serves every allocation over 32 MB with a new ``mmap`` and unmaps it when freed, so the
large temporaries of each training step (at the paper's AudioCaps shape, the 200 MB weight
gradient of the audio gated unit) are faulted in again page by page: a third of a run's CPU
time went to the kernel, and the gradient's matrix product took 92 ms instead of 48. With
mmap off (``M_MMAP_MAX`` 0) and trimming off (``M_TRIM_THRESHOLD``), freed blocks stay in the
heap and the next step's tensors of the same sizes take them without a fault; the peak
memory is what it was, but memory is not handed back to the system until the process ends.
"""

from __future__ import annotations

import ctypes
import platform
from functools import cache

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
"""glibc's ``mallopt`` parameters (``malloc.h``)."""
NEVER_TRIM = 2**31 - 1
"""The largest value ``mallopt`` takes (an ``int``)."""


@cache
def reuse_freed_memory() -> bool:
    """Turn glibc's mmap and trimming off for this process (once); ``False`` where the C
    library is not glibc, which keeps its own policy."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, NEVER_TRIM))
