"""``pytest benchmarks --benchmark-only`` runs the package's throughput suite
(``atr_bench.perf.suite``); its hooks are re-exported here, its benchmarks in the test files."""

from atr_bench.perf.suite.plugin import (  # noqa: F401
    pytest_addoption,
    pytest_benchmark_update_machine_info,
    pytest_configure,
    pytest_generate_tests,
)
