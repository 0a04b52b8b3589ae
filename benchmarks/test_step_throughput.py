"""Training-step and evaluation throughput (``atr_bench.perf.suite.steps``), collected here."""

from atr_bench.perf.suite.steps import test_step  # noqa: F401
