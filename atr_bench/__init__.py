"""atr-bench: a plugin-based benchmark harness for audio-text retrieval.

The names exported here are the public API a plugin needs: ``hookimpl`` to mark hook
implementations, the spec types a hook returns, ``Option`` for typed plugin options (``Rule``
and ``Requirement`` for the conditions they must meet), ``Lazy`` for a ``build`` that imports
its implementation when called, and ``AtrBenchError`` for one-line user-facing errors.
``atr_bench.plugins.contract`` says what a spec's ``build`` returns; ``atr_bench.dev.conformance``
is the conformance kit.
"""

from importlib.metadata import PackageNotFoundError, version

import pluggy

from atr_bench.errors import AtrBenchError
from atr_bench.plugins.lazy import Lazy
from atr_bench.plugins.specs import (
    BatchingSpec,
    DatasetSpec,
    ExtractorSpec,
    LossSpec,
    OptimizerSettings,
    Option,
    PoolingSpec,
    ProtocolSpec,
    Requirement,
    Rule,
    TextEncoderSpec,
)

PROJECT = "atr_bench"

hookimpl = pluggy.HookimplMarker(PROJECT)
"""Decorator a plugin module puts on its hook implementations."""

try:
    __version__ = version("atr-bench")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "PROJECT",
    "AtrBenchError",
    "BatchingSpec",
    "DatasetSpec",
    "ExtractorSpec",
    "Lazy",
    "LossSpec",
    "OptimizerSettings",
    "Option",
    "PoolingSpec",
    "ProtocolSpec",
    "Requirement",
    "Rule",
    "TextEncoderSpec",
    "__version__",
    "hookimpl",
]
