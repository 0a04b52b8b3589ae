"""Freed large tensors are reused without page faults once ``reuse_freed_memory`` is on (in a
fresh interpreter: the setting is process-wide)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

PROGRAM = """
import resource, sys, torch
from atr_bench.run.allocator import reuse_freed_memory
if sys.argv[1] == "reuse":
    assert reuse_freed_memory()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
x = torch.ones(16 << 20)  # 64 MB, over glibc's largest mmap threshold
del x
before = faults()
y = torch.ones(16 << 20)
print(faults() - before)
"""


def _faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return int(out.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="a glibc setting")
def test_a_freed_large_tensor_is_reused_without_faulting_its_pages_in_again():
    pages = (64 << 20) // 4096
    assert _faults("default") > pages // 2  # a fresh mapping, faulted in page by page
    assert _faults("reuse") < pages // 20
