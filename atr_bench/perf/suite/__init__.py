"""The throughput suite, inside the package so ``atr-bench bench`` runs from an installed
wheel: ``plugin`` (its pytest options and parametrisation), ``poolings`` and ``steps`` (the
benchmarks). The repository's ``benchmarks/`` folder re-exports them for ``pytest benchmarks``."""
