"""End-to-end throughput of every registered pooling: clips/s of a whole training step and of
one evaluation pass at the paper's shapes (``atr_bench.perf.step``), stored in each
benchmark's ``extra_info``."""

from __future__ import annotations

import pytest

from atr_bench.errors import AtrBenchError
from atr_bench.perf import step
from atr_bench.plugins.registry import registry


def test_step(benchmark, step_case: step.StepCase) -> None:
    try:
        call = step.make_call(step_case, registry())
    except AtrBenchError as exc:  # CUDA asked for on a machine without it
        pytest.skip(str(exc))
    rounds = step.warm_up(call)
    flops = step.count_flops(call)
    benchmark.group = f"{step_case.phase} {step_case.shape.name} {step_case.device}"
    benchmark.pedantic(call, rounds=rounds, iterations=1)
    if benchmark.disabled:
        return
    clips = step_case.info()["clips"]
    benchmark.extra_info.update(
        step_case.info(),
        step_clips_per_s=clips / benchmark.stats.stats.min,
        step_gflop_s=flops / benchmark.stats.stats.min / 1e9,
    )
