"""Conformance checks of text encoders: token-level shapes, determinism, batch independence."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from atr_bench.dev.conformance.base import check_spec, conforms, fail
from atr_bench.plugins.contract import Fittable, Lookup, TextEncoder
from atr_bench.plugins.specs import TextEncoderSpec

CORPUS = tuple(
    f"a {a} {s}, then a {b} {t}"
    for a, s in (("loud", "beep"), ("quiet", "hiss"), ("low", "hum"), ("high", "whistle"))
    for b, t in (("fast", "click"), ("slow", "siren"), ("short", "burst"))
)
"""Training captions for text encoders that ``fit``; every word of ``CAPTIONS`` occurs here."""

CAPTIONS = (
    "a loud beep, then a quiet hiss",
    "beep",
    "a low hum while a high whistle and a fast click and a slow siren",
)
"""Captions the text encoder checks encode: the last has more words than the second."""


def build_text_encoder(
    spec: TextEncoderSpec, options: Mapping[str, Any] | None, workdir: Path
) -> TextEncoder:
    """Build as the harness does and, for an encoder that learns from text, ``fit`` it on
    ``CORPUS`` with ``workdir`` as its cache directory."""
    encoder = spec.build(**spec.resolve_options(options))
    conforms(spec, encoder, TextEncoder, "build(**options)")
    if isinstance(encoder, Fittable):
        encoder.fit(list(CORPUS), Path(workdir))
    dim = encoder.dim
    if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
        fail(spec, f"the encoder needs an int attribute dim >= 1, it has {dim!r}")
    return encoder


def _token_arrays(
    spec: TextEncoderSpec, encoder: TextEncoder, what: str, arrays: Any
) -> list[np.ndarray]:
    out = []
    for i, array in enumerate(arrays):
        array = np.asarray(array)
        if array.ndim != 2 or array.shape[1] != encoder.dim:
            fail(
                spec,
                f"{what} item {i} has shape {array.shape}, expected [n_tokens, dim={encoder.dim}] "
                "(one vector per token, so a text pooling applies)",
            )
        if not np.issubdtype(array.dtype, np.floating) or not np.isfinite(array).all():
            fail(spec, f"{what} item {i} is not finite floats")
        out.append(array)
    return out


def _features(
    spec: TextEncoderSpec, encoder: TextEncoder, lookup_dir: Path | None, split: str
) -> list[np.ndarray]:
    """Token arrays from ``lookup`` (encoders of precomputed files) or ``encode(CAPTIONS)``."""
    if isinstance(encoder, Lookup):
        if lookup_dir is None:
            fail(spec, "the encoder has lookup(); pass lookup_dir=a dataset folder with its files")
        table = encoder.lookup(Path(lookup_dir), split)
        looked_up = [a for captions in table.values() for a in captions]
        return _token_arrays(spec, encoder, f"lookup({split!r})", looked_up)
    arrays = encoder.encode(list(CAPTIONS))
    if len(arrays) != len(CAPTIONS):
        fail(spec, f"encode(captions) returned {len(arrays)} items for {len(CAPTIONS)} captions")
    return _token_arrays(spec, encoder, "encode", arrays)


def check_text_encoder_shapes(
    spec: TextEncoderSpec,
    options: Mapping[str, Any] | None = None,
    *,
    workdir: Path,
    lookup_dir: Path | None = None,
    split: str = "train",
) -> None:
    """Token-level ``[n_tokens, dim]`` float arrays, one per caption; ``spec.dim`` is the
    default encoder's ``dim``; a longer caption gives more tokens."""
    encoder = build_text_encoder(spec, options, workdir)
    if spec.resolve_options(options) == spec.resolve_options() and spec.dim != encoder.dim:
        fail(spec, f"spec.dim={spec.dim} but the default encoder has dim={encoder.dim}")
    arrays = _features(spec, encoder, lookup_dir, split)
    if not arrays:
        fail(spec, "no caption features at all")
    if isinstance(encoder, Lookup):
        return
    if any(len(a) == 0 for a in arrays) or len(arrays[2]) <= len(arrays[1]):
        fail(
            spec,
            f"token counts {[len(a) for a in arrays]} for captions of 7, 1 and 14 words; "
            "encode must return one vector per token, not one per caption",
        )


def check_text_encoder_determinism(
    spec: TextEncoderSpec,
    options: Mapping[str, Any] | None = None,
    *,
    workdir: Path,
    lookup_dir: Path | None = None,
    split: str = "train",
) -> None:
    """A fresh build gives the same features, and a caption encoded alone equals it encoded in
    a batch (the harness caches features, so they must not depend on how they were batched)."""
    first = _features(spec, build_text_encoder(spec, options, workdir), lookup_dir, split)
    encoder = build_text_encoder(spec, options, workdir)
    second = _features(spec, encoder, lookup_dir, split)
    same = len(first) == len(second) and all(
        a.shape == b.shape and np.allclose(a, b, atol=1e-5)
        for a, b in zip(first, second, strict=True)
    )
    if not same:
        fail(spec, "two builds with the same options give different features; seed everything")
    if isinstance(encoder, Lookup):
        return
    for caption, batched in zip(CAPTIONS, second, strict=True):
        (alone,) = _token_arrays(spec, encoder, "encode", encoder.encode([caption]))
        if alone.shape != batched.shape or not np.allclose(alone, batched, atol=1e-4):
            fail(spec, f"{caption!r} encodes differently alone and in a batch; drop batch effects")


TEXT_ENCODER_CHECKS: tuple[Callable[..., None], ...] = (
    check_text_encoder_shapes,
    check_text_encoder_determinism,
)
"""Every text encoder check, called as ``check(spec, options, workdir=..., lookup_dir=...)``."""


def check_text_encoder(
    spec: TextEncoderSpec,
    options: Mapping[str, Any] | None = None,
    *,
    workdir: Path,
    lookup_dir: Path | None = None,
) -> None:
    """Run ``check_spec`` and every text encoder check."""
    check_spec(spec, options)
    for check in TEXT_ENCODER_CHECKS:
        check(spec, options, workdir=workdir, lookup_dir=lookup_dir)
