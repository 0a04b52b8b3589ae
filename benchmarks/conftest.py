"""Options and machine facts of the pooling throughput suite.

``pytest benchmarks --benchmark-only`` times every registered pooling; the JSON report goes to
``.benchmarks/pooling-throughput.json`` unless ``--benchmark-json PATH`` says otherwise, and
``atr-bench bench --from-json`` turns it into ``leaderboards/pooling-throughput.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from atr_bench.errors import AtrBenchError
from atr_bench.perf import throughput
from atr_bench.perf.references import REFERENCES
from atr_bench.plugins.registry import registry

DEFAULT_JSON = Path(".benchmarks") / "pooling-throughput.json"


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("atr-bench pooling throughput")
    group.addoption("--pooling", default="", help="comma-separated poolings (default: all)")
    group.addoption(
        "--shape",
        default="",
        help="comma-separated shapes (default: all): "
        + ", ".join(f"{s.name} {s.batch}x{s.frames}x{s.dim}" for s in throughput.SHAPES),
    )
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
    """The machine facts a report prints, bandwidth measured now, in the same run."""
    usable = [d for d in selected_devices(config) if d == "cpu" or torch.cuda.is_available()]
    machine_info["atr_bench"] = throughput.machine(usable)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise ``case`` over the registry's poolings and the options' selection."""
    if "case" not in metafunc.fixturenames:
        return
    option = metafunc.config.option
    try:
        cases = throughput.cases(
            registry(),
            REFERENCES,
            poolings=_names(option.pooling),
            shapes=_names(option.shape),
            devices=selected_devices(metafunc.config),
        )
    except AtrBenchError as exc:
        raise pytest.UsageError(str(exc)) from None
    metafunc.parametrize("case", cases, ids=str)
