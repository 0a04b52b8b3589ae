"""Throughput: the pooling cases and their vectorised baselines, the end-to-end training step,
the machine's bounds, the suite (``suite/``), the ``atr-bench bench`` command and its tables;
``references`` holds the literal per-clip oracles the tests compare against."""
