"""The plugin contract.

A plugin is a module (registered under the entry-point group ``atr_bench``) implementing any of
these hooks with ``@atr_bench.hookimpl``. Each hook returns a list of specs; names are unique
across all plugins. The built-in plugins in ``atr_bench.components`` use exactly these hooks.
"""

from __future__ import annotations

import pluggy

from atr_bench import PROJECT
from atr_bench.plugins.specs import (
    DatasetSpec,
    ExtractorSpec,
    PoolingSpec,
    ProtocolSpec,
    TextEncoderSpec,
)

hookspec = pluggy.HookspecMarker(PROJECT)


@hookspec
def atr_bench_poolings() -> list[PoolingSpec]:
    """Temporal poolings: ``spec.build(in_dim, **opts)`` returns an ``nn.Module`` whose
    ``forward(x[B, T, D], mask[B, T] bool) -> [B, out_dim]`` ignores frames where ``mask`` is
    False, and which has an ``out_dim`` attribute."""


@hookspec
def atr_bench_extractors() -> list[ExtractorSpec]:
    """Audio feature extractors: ``spec.build(weights=None, device="cpu", **opts)`` returns an
    object with ``sample_rate``, ``dim``, ``frames_per_second`` and
    ``__call__(wave[B, N]) -> [B, T, D]``."""


@hookspec
def atr_bench_text_encoders() -> list[TextEncoderSpec]:
    """Text encoders: ``spec.build(**opts)`` returns an object with ``dim`` and
    ``encode(list[str]) -> list[array[n_tokens, dim]]`` (token level, so a text pooling
    applies). Encoders that learn from text may define ``fit(captions, cache_dir)``; encoders
    backed by precomputed files may define ``lookup(dataset_dir, split)``."""


@hookspec
def atr_bench_datasets() -> list[DatasetSpec]:
    """Datasets: ``spec.build(root, **opts)`` returns a ``Dataset`` (splits, clip ids, captions
    per clip, protocol defaults) rooted at ``root/<directory>`` in the seed layout."""


@hookspec
def atr_bench_protocols() -> list[ProtocolSpec]:
    """Training and evaluation protocols: a ``ProtocolSpec`` holds every setting a run's
    numbers depend on (batch composition, model sizes, normalisations, loss, optimiser,
    schedule, selection); ``spec.build(pooling, side, in_dim)`` returns the options it gives a
    pooling on the audio or text side. Records name the protocol and its version, and a
    leaderboard never mixes two."""
