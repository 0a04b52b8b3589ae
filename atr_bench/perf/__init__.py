"""Pooling throughput: the shared cases and references, the ``atr-bench bench`` command and its
table."""
