"""The suite's pytest hooks: options, threads, machine facts and the parametrisation of the
pooling (``case``) and end-to-end (``step_case``) benchmarks.

``benchmarks/conftest.py`` re-exports these hooks; ``atr-bench bench`` loads this module with
``-p``. The JSON report goes to ``.benchmarks/pooling-throughput.json`` unless
``--benchmark-json PATH`` says otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from atr_bench.errors import AtrBenchError
from atr_bench.perf import step, throughput
from atr_bench.perf.baselines import BASELINES
from atr_bench.perf.machine import machine
from atr_bench.plugins.registry import registry

DEFAULT_JSON = Path(".benchmarks") / "pooling-throughput.json"


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("atr-bench throughput")
    group.addoption("--pooling", default="", help="comma-separated poolings (default: all)")
    group.addoption(
        "--shape",
        default="",
        help="comma-separated shapes (default: all): "
        + ", ".join(f"{s.name} {s.batch}x{s.frames}x{s.dim}" for s in throughput.SHAPES)
        + " (the training-step benchmarks have audiocaps and clotho)",
    )
    group.addoption("--dtype", default="", help="fp32, bf16 or both (default: both; poolings)")
    group.addoption("--device", default="cpu,cuda", help="cpu, cuda or both (default: cpu,cuda)")
    group.addoption(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default: 1, steady on shared machines; 0: torch's default)",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.option.benchmark_json is None:
        path = config.rootpath / DEFAULT_JSON
        path.parent.mkdir(parents=True, exist_ok=True)
        config.option.benchmark_json = path
    if config.option.threads:
        torch.set_num_threads(config.option.threads)


def selected_devices(config: pytest.Config) -> list[str]:
    """The devices asked for with ``--device``, in the suite's order."""
    asked = _names(config.option.device)
    unknown = sorted(set(asked) - set(throughput.DEVICES))
    if unknown:
        raise pytest.UsageError(f"--device {unknown[0]!r}: expected cpu, cuda or cpu,cuda")
    return [device for device in throughput.DEVICES if device in asked]


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict[str, Any]):
    """The machine facts a report prints, bandwidth and matrix rate measured now."""
    usable = [d for d in selected_devices(config) if d == "cpu" or torch.cuda.is_available()]
    machine_info["atr_bench"] = machine(usable, throughput.DTYPES)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise ``case`` and ``step_case`` over the registry's poolings and the options'
    selection."""
    option = metafunc.config.option
    chosen: dict[str, Any] = {
        "poolings": _names(option.pooling),
        "shapes": _names(option.shape),
        "devices": selected_devices(metafunc.config),
    }
    try:
        if "case" in metafunc.fixturenames:
            dtypes = _names(option.dtype)
            cases = throughput.cases(registry(), BASELINES, **chosen, dtypes=dtypes)
            metafunc.parametrize("case", cases, ids=str)
        if "step_case" in metafunc.fixturenames:
            metafunc.parametrize("step_case", step.step_cases(registry(), **chosen), ids=str)
    except AtrBenchError as exc:
        raise pytest.UsageError(str(exc)) from None
