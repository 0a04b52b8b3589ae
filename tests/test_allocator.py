"""The command line asks torch for transparent huge pages under large tensors before torch is
imported, so a training step's large gradients are not faulted in 4 KB at a time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from atr_bench.run.allocator import THP_ENV

PROGRAM = """
import resource, sys
from atr_bench.run.allocator import huge_pages_for_large_tensors
if sys.argv[1] == "huge":
    huge_pages_for_large_tensors()
import torch
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
weight = torch.randn(2048, 6000, requires_grad=True)  # a 49 MB gradient, as a gated unit's
counts = []
for step in range(4):
    before = faults()
    (torch.randn(128, 6000) @ weight.T).relu().sum().backward()
    weight.grad = None
    counts.append(faults() - before)
print(max(counts[1:]))
"""
THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def _faults(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if k != THP_ENV}
    out = subprocess.run(
        [sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    return int(out.stdout)


@pytest.mark.skipif(
    not THP.exists() or "[never]" in THP.read_text(), reason="no transparent huge pages here"
)
def test_large_gradients_are_faulted_in_huge_pages():
    pages = (2048 * 6000 * 4) // 4096
    assert _faults("default") > pages // 2  # every step's gradient faulted in 4 KB pages
    assert _faults("huge") < pages // 3  # 2 MB pages: the small tensors fault most of these


def test_the_command_line_sets_it_unless_the_environment_says_otherwise():
    program = (
        "import os, sys; from atr_bench.cli.main import main; main(['list']); "
        f"print(os.environ[{THP_ENV!r}], 'torch' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k != THP_ENV}
    run = [sys.executable, "-c", program]
    out = subprocess.run(run, capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split()[-2:] == ["1", "False"]  # set, and torch not yet imported
    out = subprocess.run(run, capture_output=True, text=True, env={**env, THP_ENV: "0"})
    assert out.stdout.split()[-2:] == ["0", "False"]
