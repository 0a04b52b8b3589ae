"""Throughput of every registered pooling, third-party ones included, and of each built-in's
vectorised baseline beside it: clips/s per shape, mode (forward, forward+backward), dtype and
device, and per execution variant (a VLAD's ``kernel``), stored in each benchmark's
``extra_info`` with the call's minimal bytes and matrix flops (its bounds)."""

from __future__ import annotations

import pytest
import torch

from atr_bench.errors import AtrBenchError
from atr_bench.perf import throughput
from atr_bench.perf.baselines import BASELINES
from atr_bench.plugins.registry import registry


def test_pooling(benchmark, case: throughput.Case) -> None:
    if case.device == "cuda" and not torch.cuda.is_available():
        pytest.skip("CUDA is not available")
    module = throughput.build_pooling(registry().get("pooling", case.pooling), case)
    if case.impl == "baseline":
        module = BASELINES[case.pooling](module)
    try:
        step, rounds = throughput.prepare(module, case)
    except AtrBenchError as exc:  # a variant this machine cannot run (Triton on CPU)
        pytest.skip(str(exc))
    benchmark.group = f"{case.shape.name} {case.mode} {case.dtype} {case.device}"
    benchmark.pedantic(step, rounds=rounds, iterations=1)
    if benchmark.disabled:  # --benchmark-disable: a smoke run, nothing was timed
        return
    benchmark.extra_info.update(
        case.info(),
        clips_per_s=case.shape.batch / benchmark.stats.stats.min,
        min_bytes=throughput.min_bytes(module, case),
        flops=throughput.matmul_flops(module, case),
    )
