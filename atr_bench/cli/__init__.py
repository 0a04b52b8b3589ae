"""The ``atr-bench`` command line."""
