"""The hooks a plugin implements.

A plugin is a module (registered under the entry-point group ``atr_bench``) implementing any of
these hooks with ``@atr_bench.hookimpl``. Each hook returns a list of specs; names are unique
across all plugins. The built-in plugins in ``atr_bench.components`` use exactly these hooks.
What each spec's ``build`` returns is the protocol of its kind in ``atr_bench.plugins.contract``.
"""

from __future__ import annotations

import pluggy

from atr_bench import PROJECT
from atr_bench.plugins.specs import (
    BatchingSpec,
    DatasetSpec,
    ExtractorSpec,
    LossSpec,
    PoolingSpec,
    ProtocolSpec,
    TextEncoderSpec,
)

hookspec = pluggy.HookspecMarker(PROJECT)


@hookspec
def atr_bench_poolings() -> list[PoolingSpec]:
    """Temporal poolings: ``spec.build(in_dim, **opts)`` returns a ``contract.Pooling``."""


@hookspec
def atr_bench_extractors() -> list[ExtractorSpec]:
    """Audio feature extractors: ``spec.build(weights=None, device="cpu", **opts)`` returns a
    ``contract.Extractor`` (optionally ``FramesFor``, ``Ragged``)."""


@hookspec
def atr_bench_text_encoders() -> list[TextEncoderSpec]:
    """Text encoders: ``spec.build(**opts)`` returns a ``contract.TextEncoder`` (optionally
    ``Fittable``, ``CacheTagged``, ``Described`` or ``Lookup``)."""


@hookspec
def atr_bench_datasets() -> list[DatasetSpec]:
    """Datasets: ``spec.build(root, **opts)`` returns a ``contract.Dataset`` (optionally
    ``OrderContrast``, ``Indexed``) rooted at ``root``."""


@hookspec
def atr_bench_losses() -> list[LossSpec]:
    """Training losses a protocol (or ``--loss``) names: ``spec.build()`` returns a
    ``contract.Loss``, called with the protocol settings ``spec.settings`` names."""


@hookspec
def atr_bench_batchings() -> list[BatchingSpec]:
    """What a training batch holds, named by a protocol's ``batch_items``: ``spec.build()``
    returns a ``contract.Batching``, an epoch's batches of clips and captions."""


@hookspec
def atr_bench_protocols() -> list[ProtocolSpec]:
    """Training and evaluation protocols: a ``ProtocolSpec`` holds every setting a run's
    numbers depend on (batch composition, model sizes, normalisations, loss, optimiser,
    schedule, selection); ``spec.build(pooling, side, in_dim)`` returns the options it gives a
    pooling on the audio or text side. Records name the protocol and its version, and a
    leaderboard never mixes two."""
