"""The configured spec of a component that a ``transformers`` model makes: named
``<prefix>-<model>-<hash of the model's digest and settings>``, so its feature folder or text
cache (and the runs' column) changes with the model's files and settings, never its path."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from typing import Any

from atr_bench.hf.source import ModelSource
from atr_bench.plugins.specs import ExtractorSpec

SLUG_CHARS = 32


def model_name(prefix: str, source: ModelSource, **settings: Any) -> str:
    """``<prefix>-<model>-<hash of its digest and settings>``: a name that changes with the
    model's files and settings, never with its path."""
    key = json.dumps({"digest": source.digest, **settings}, sort_keys=True, default=str)
    tail = source.model.rstrip("/").rsplit("/", 1)[-1]
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", tail)[:SLUG_CHARS].strip("-_") or "model"
    return f"{prefix}-{slug}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def model_spec(
    spec: ExtractorSpec,
    source: ModelSource,
    dim: int,
    sample_rate: int,
    frames_per_second: float,
    **settings: Any,
) -> ExtractorSpec:
    """``spec`` configured for ``source`` with ``settings`` (layer, stride, ...)."""
    return dataclasses.replace(
        spec,
        name=model_name(spec.name, source, **settings),
        dim=dim,
        sample_rate=sample_rate,
        frames_per_second=frames_per_second,
        provenance={**source.provenance(), **{k: str(v) for k, v in settings.items()}},
        configure=None,
    )
