"""Pooling throughput (``atr_bench.perf.suite.poolings``), collected here for ``pytest``."""

from atr_bench.perf.suite.poolings import test_pooling  # noqa: F401
