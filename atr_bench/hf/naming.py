"""The configured spec of an extractor that a ``transformers`` model makes: named
``<prefix>-<model>-<hash of the model's digest and settings>``, so its feature folder (and the
runs' extractor column) changes with the model's files and settings, never with its path."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from typing import Any

from atr_bench.hf.source import ModelSource
from atr_bench.plugins.specs import ExtractorSpec

SLUG_CHARS = 32


def model_spec(
    spec: ExtractorSpec,
    source: ModelSource,
    dim: int,
    sample_rate: int,
    frames_per_second: float,
    **settings: Any,
) -> ExtractorSpec:
    """``spec`` configured for ``source`` with ``settings`` (layer, stride, ...)."""
    key = json.dumps({"digest": source.digest, **settings}, sort_keys=True, default=str)
    tail = source.model.rstrip("/").rsplit("/", 1)[-1]
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", tail)[:SLUG_CHARS].strip("-_") or "model"
    return dataclasses.replace(
        spec,
        name=f"{spec.name}-{slug}-{hashlib.sha256(key.encode()).hexdigest()[:10]}",
        dim=dim,
        sample_rate=sample_rate,
        frames_per_second=frames_per_second,
        provenance={**source.provenance(), **{k: str(v) for k, v in settings.items()}},
        configure=None,
    )
