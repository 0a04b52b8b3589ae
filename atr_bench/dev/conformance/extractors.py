"""Conformance check of audio extractors: metadata, frame shapes and rate, determinism."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from atr_bench.dev.conformance.base import check_spec, conforms, fail
from atr_bench.plugins.contract import Extractor, FramesFor
from atr_bench.plugins.specs import ExtractorSpec


def check_extractor(
    spec: ExtractorSpec, options: Mapping[str, Any] | None = None, *, weights: Any = None
) -> None:
    """``check_spec``, then: the built extractor agrees with the spec's ``dim``, ``sample_rate``
    and ``frames_per_second``, maps ``[B, N]`` waves to finite ``[B, T, dim]`` frames at that
    rate (``frames_for`` of them, where it crops padding off), and gives the same frames twice.
    A spec with ``configure`` is checked as ``options`` configure it."""
    check_spec(spec, options)
    spec = spec.configured(spec.resolve_options(options))
    extractor = spec.build(weights=weights, device="cpu", **spec.resolve_options(options))
    conforms(spec, extractor, Extractor, 'build(weights, device="cpu", **options)')
    for attr in ("dim", "sample_rate", "frames_per_second"):
        if getattr(extractor, attr) != getattr(spec, attr):
            fail(
                spec,
                f"extractor.{attr}={getattr(extractor, attr)!r} but spec.{attr}="
                f"{getattr(spec, attr)!r}; make them agree",
            )
    seconds = 2.0
    gen = torch.Generator().manual_seed(0)
    wave = 0.1 * torch.randn(2, int(seconds * spec.sample_rate), generator=gen)
    with torch.no_grad():
        frames = extractor(wave)
        again = extractor(wave)
    expected = seconds * spec.frames_per_second
    if frames.ndim != 3 or frames.shape[0] != 2 or frames.shape[2] != spec.dim:
        shape = tuple(frames.shape)
        fail(spec, f"a [2, {wave.shape[1]}] wave gave {shape}, expected [2, T, {spec.dim}]")
    kept = extractor.frames_for(wave.shape[1]) if isinstance(extractor, FramesFor) else None
    if kept is not None and not 1 <= kept <= frames.shape[1]:
        fail(spec, f"frames_for gives {kept} frames for {seconds} s, which gave {frames.shape[1]}")
    count = frames.shape[1] if kept is None else kept
    if abs(count - expected) > max(2.0, 0.1 * expected):
        fail(spec, f"{seconds} s gave {count} frames, expected about {expected:g}")
    if not torch.isfinite(frames).all() or not torch.equal(frames, again):
        fail(spec, "frames are not finite, or differ between two calls on the same wave")
