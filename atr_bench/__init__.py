"""atr-bench: a plugin-based benchmark harness for audio-text retrieval."""

from importlib.metadata import PackageNotFoundError, version

import pluggy

PROJECT = "atr_bench"

hookimpl = pluggy.HookimplMarker(PROJECT)
"""Decorator a plugin module puts on its hook implementations."""

try:
    __version__ = version("atr-bench")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["PROJECT", "__version__", "hookimpl"]
