"""Conformance kit: the hook contract as reusable checks a plugin author runs on their plugin.

The harness runs the same checks on every built-in. Each check takes the plugin's spec and the
options to build it with, and raises ``ConformanceError`` (one line: which plugin, which rule,
what to fix) when the plugin breaks the contract. In a plugin's tests::

    import pytest
    from atr_bench.dev.conformance import POOLING_CHECKS, check_spec
    from my_plugin import SPEC

    @pytest.mark.parametrize("check", [check_spec, *POOLING_CHECKS], ids=lambda c: c.__name__)
    def test_conformance(check):
        check(SPEC)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import torch
from torch import Tensor, nn

from atr_bench.errors import AtrBenchError
from atr_bench.plugins.specs import ExtractorSpec, PoolingSpec, Spec, TextEncoderSpec

IN_DIM = 8
"""Feature size the pooling checks build with (small, so every check runs in milliseconds)."""

GARBAGE = (float("nan"), float("inf"), float("-inf"), 1e30, -1e30, 0.0, 7.5)
"""Values written into padded frames: none of them may reach a pooling's output."""

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

_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*")


class ConformanceError(AtrBenchError, AssertionError):
    """A plugin breaks the hook contract; pytest shows it as a failed assertion."""


def _fail(spec: Spec, rule: str) -> NoReturn:
    kind = "text encoder" if isinstance(spec, TextEncoderSpec) else spec.kind
    raise ConformanceError(f"{kind} {spec.name!r}: {rule}")


def check_spec(spec: Spec, options: Mapping[str, Any] | None = None, **_: Any) -> None:
    """Name usable on the command line, one-line description, options that resolve. Other
    checks' keyword arguments are ignored, so it fits in the same parametrize list."""
    if not _NAME.fullmatch(spec.name):
        _fail(spec, "name must be lower case letters, digits, '_', '.' or '-', as typed in --flags")
    if not spec.description.strip() or "\n" in spec.description:
        _fail(spec, "description must be one non-empty line (`atr-bench list` prints it)")
    names = [o.name for o in spec.options]
    if len(set(names)) != len(names):
        _fail(spec, f"option names repeat: {names}; give each option its own name")
    spec.resolve_options(options)
    if isinstance(spec, PoolingSpec):
        spec.resolve_options(options, base=spec.text_defaults)


# --- poolings ---------------------------------------------------------------------------------


def build_pooling(
    spec: PoolingSpec, options: Mapping[str, Any] | None = None, in_dim: int = IN_DIM, seed: int = 0
) -> nn.Module:
    """Build as the harness does (options typed and checked by the spec), after seeding torch."""
    torch.manual_seed(seed)
    module = spec.build(in_dim, **spec.resolve_options(options))
    if not isinstance(module, nn.Module):
        _fail(spec, f"build(in_dim, **options) returned {type(module).__name__}, not nn.Module")
    out_dim = getattr(module, "out_dim", None)
    if not isinstance(out_dim, int) or isinstance(out_dim, bool) or out_dim < 1:
        _fail(spec, f"the module needs an int attribute out_dim >= 1, it has {out_dim!r}")
    return module


def padded_batch(
    lengths: Sequence[int], frames: int, in_dim: int, seed: int
) -> tuple[Tensor, Tensor]:
    """Random ``[B, frames, in_dim]`` frames with garbage (NaN, inf, huge) after each length,
    and the ``[B, frames]`` mask that is True on the real frames."""
    gen = torch.Generator().manual_seed(seed)
    mask = torch.arange(frames)[None, :] < torch.tensor(list(lengths))[:, None]
    x = torch.randn(len(lengths), frames, in_dim, generator=gen)
    pick = torch.randint(len(GARBAGE), x.shape, generator=gen)
    return torch.where(mask[..., None], x, torch.tensor(GARBAGE)[pick]), mask


def check_pooling_out_dim(
    spec: PoolingSpec, options: Mapping[str, Any] | None = None, *, in_dim: int = IN_DIM
) -> None:
    """``forward(x, mask)`` is a finite float ``[B, out_dim]``, for ``in_dim`` and twice that, and
    for batches with and without padding."""
    for dim in (in_dim, 2 * in_dim):
        module = build_pooling(spec, options, dim).eval()
        out_dim: int = module.out_dim  # type: ignore[assignment]  # build_pooling checked it
        for lengths, frames in (([9, 4, 1], 9), ([5], 5)):
            x, mask = padded_batch(lengths, frames, dim, seed=dim)
            with torch.no_grad():
                out = module(x, mask)
            expected = (len(lengths), out_dim)
            if not isinstance(out, Tensor) or tuple(out.shape) != expected:
                shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
                _fail(
                    spec,
                    f"in_dim={dim}: forward returned {shape}, expected [B, out_dim] = {expected}; "
                    "make out_dim match what forward returns",
                )
            if not out.is_floating_point() or not torch.isfinite(out).all():
                _fail(spec, f"in_dim={dim}: output is not finite floats; check the masking")


def check_pooling_padding(
    spec: PoolingSpec,
    options: Mapping[str, Any] | None = None,
    *,
    in_dim: int = IN_DIM,
    cases: int = 8,
) -> None:
    """Padded frames (whatever they hold) never change the output: each row of a padded batch
    equals that clip pooled alone, without padding."""
    module = build_pooling(spec, options, in_dim).eval()
    gen = torch.Generator().manual_seed(1234)
    for case in range(cases):
        batch = int(torch.randint(1, 5, (1,), generator=gen))
        lengths = torch.randint(1, 8, (batch,), generator=gen)
        frames = int(lengths.max()) + case % 4
        x, mask = padded_batch(lengths.tolist(), frames, in_dim, seed=case)
        with torch.no_grad():
            batched = module(x, mask)
            for row, length in enumerate(lengths.tolist()):
                alone = module(x[row : row + 1, :length], torch.ones(1, length, dtype=torch.bool))
                if not torch.allclose(batched[row : row + 1], alone, atol=1e-5, rtol=1e-4):
                    _fail(
                        spec,
                        f"padding changes the output (a clip of {length} frames padded to "
                        f"{frames}); ignore frames where mask is False, e.g. "
                        "torch.where(mask[..., None], x, 0) and mask every sum, max or softmax",
                    )


def check_pooling_gradients(
    spec: PoolingSpec, options: Mapping[str, Any] | None = None, *, in_dim: int = IN_DIM
) -> None:
    """Gradients are finite, reach every trainable parameter and the real frames, and are
    exactly zero on padded frames."""
    module = build_pooling(spec, options, in_dim).train()
    x, mask = padded_batch([8, 5, 2], 8, in_dim, seed=7)
    x.requires_grad_(True)
    out = module(x, mask)
    (out * torch.randn(out.shape, generator=torch.Generator().manual_seed(0))).sum().backward()
    grad = x.grad
    if grad is None or not torch.isfinite(grad).all() or grad[mask].abs().sum() == 0:
        _fail(spec, "no finite gradient reaches the input frames; do not detach the input")
    if (grad[~mask] != 0).any():
        _fail(spec, "padded frames receive gradient; mask them out before any arithmetic")
    for name, param in module.named_parameters():
        if not param.requires_grad:
            continue
        if param.grad is None or not torch.isfinite(param.grad).all():
            _fail(spec, f"parameter {name!r} gets no finite gradient; use it in forward or drop it")


def check_pooling_determinism(
    spec: PoolingSpec, options: Mapping[str, Any] | None = None, *, in_dim: int = IN_DIM
) -> None:
    """The same torch seed gives the same parameters and the same output (training mode too)."""
    x, mask = padded_batch([6, 3], 6, in_dim, seed=3)
    outs = []
    for _ in range(2):
        module = build_pooling(spec, options, in_dim, seed=0).train()
        torch.manual_seed(1)
        outs.append(module(x, mask).detach())
    if not torch.equal(outs[0], outs[1]):
        _fail(
            spec,
            "two builds under the same torch seed give different outputs; draw all randomness "
            "from torch's generator",
        )


POOLING_CHECKS: tuple[Callable[..., None], ...] = (
    check_pooling_out_dim,
    check_pooling_padding,
    check_pooling_gradients,
    check_pooling_determinism,
)
"""Every pooling check, each called as ``check(spec, options, in_dim=...)``."""


def check_pooling(
    spec: PoolingSpec, options: Mapping[str, Any] | None = None, *, in_dim: int = IN_DIM
) -> None:
    """Run ``check_spec`` and every pooling check."""
    check_spec(spec, options)
    for check in POOLING_CHECKS:
        check(spec, options, in_dim=in_dim)


# --- text encoders ----------------------------------------------------------------------------


def build_text_encoder(
    spec: TextEncoderSpec, options: Mapping[str, Any] | None, workdir: Path
) -> Any:
    """Build as the harness does and, for an encoder that learns from text, ``fit`` it on
    ``CORPUS`` with ``workdir`` as its cache directory."""
    encoder = spec.build(**spec.resolve_options(options))
    if hasattr(encoder, "fit"):
        encoder.fit(list(CORPUS), Path(workdir))
    dim = getattr(encoder, "dim", None)
    if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
        _fail(spec, f"the encoder needs an int attribute dim >= 1, it has {dim!r}")
    return encoder


def _token_arrays(spec: TextEncoderSpec, encoder: Any, what: str, arrays: Any) -> list[np.ndarray]:
    out = []
    for i, array in enumerate(arrays):
        array = np.asarray(array)
        if array.ndim != 2 or array.shape[1] != encoder.dim:
            _fail(
                spec,
                f"{what} item {i} has shape {array.shape}, expected [n_tokens, dim={encoder.dim}] "
                "(one vector per token, so a text pooling applies)",
            )
        if not np.issubdtype(array.dtype, np.floating) or not np.isfinite(array).all():
            _fail(spec, f"{what} item {i} is not finite floats")
        out.append(array)
    return out


def _features(
    spec: TextEncoderSpec, encoder: Any, lookup_dir: Path | None, split: str
) -> list[np.ndarray]:
    """Token arrays from ``lookup`` (encoders of precomputed files) or ``encode(CAPTIONS)``."""
    if hasattr(encoder, "lookup"):
        if lookup_dir is None:
            _fail(spec, "the encoder has lookup(); pass lookup_dir=a dataset folder with its files")
        table = encoder.lookup(Path(lookup_dir), split)
        arrays = [a for captions in table.values() for a in captions]
        return _token_arrays(spec, encoder, f"lookup({split!r})", arrays)
    arrays = encoder.encode(list(CAPTIONS))
    if len(arrays) != len(CAPTIONS):
        _fail(spec, f"encode(captions) returned {len(arrays)} items for {len(CAPTIONS)} captions")
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
        _fail(spec, f"spec.dim={spec.dim} but the default encoder has dim={encoder.dim}")
    arrays = _features(spec, encoder, lookup_dir, split)
    if not arrays:
        _fail(spec, "no caption features at all")
    if hasattr(encoder, "lookup"):
        return
    if any(len(a) == 0 for a in arrays) or len(arrays[2]) <= len(arrays[1]):
        _fail(
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
        _fail(spec, "two builds with the same options give different features; seed everything")
    if hasattr(encoder, "lookup"):
        return
    for caption, batched in zip(CAPTIONS, second, strict=True):
        (alone,) = _token_arrays(spec, encoder, "encode", encoder.encode([caption]))
        if alone.shape != batched.shape or not np.allclose(alone, batched, atol=1e-4):
            _fail(spec, f"{caption!r} encodes differently alone and in a batch; drop batch effects")


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


# --- extractors -------------------------------------------------------------------------------


def check_extractor(
    spec: ExtractorSpec, options: Mapping[str, Any] | None = None, *, weights: Any = None
) -> None:
    """``check_spec``, then: the built extractor agrees with the spec's ``dim``, ``sample_rate``
    and ``frames_per_second``, maps ``[B, N]`` waves to finite ``[B, T, dim]`` frames at that
    rate, and gives the same frames twice."""
    check_spec(spec, options)
    extractor = spec.build(weights=weights, device="cpu", **spec.resolve_options(options))
    for attr in ("dim", "sample_rate", "frames_per_second"):
        if getattr(extractor, attr, None) != getattr(spec, attr):
            _fail(
                spec,
                f"extractor.{attr}={getattr(extractor, attr, None)!r} but spec.{attr}="
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
        _fail(spec, f"a [2, {wave.shape[1]}] wave gave {shape}, expected [2, T, {spec.dim}]")
    if abs(frames.shape[1] - expected) > max(2.0, 0.1 * expected):
        _fail(spec, f"{seconds} s gave {frames.shape[1]} frames, expected about {expected:g}")
    if not torch.isfinite(frames).all() or not torch.equal(frames, again):
        _fail(spec, "frames are not finite, or differ between two calls on the same wave")
