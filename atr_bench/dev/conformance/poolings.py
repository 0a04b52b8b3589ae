"""Conformance checks of poolings: shapes, finite outputs, padding, gradients, determinism.
Each failure names the property that does not hold."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from atr_bench.dev.conformance.base import check_spec, conforms, fail
from atr_bench.plugins.contract import Pooling
from atr_bench.plugins.specs import PoolingSpec

IN_DIM = 8
"""Feature size the pooling checks build with (small, so every check runs in milliseconds)."""

GARBAGE = (float("nan"), float("inf"), float("-inf"), 1e30, -1e30, 0.0, 7.5)
"""Values written into padded frames: none of them may reach a pooling's output."""
FINITE_GARBAGE = tuple(v for v in GARBAGE if math.isfinite(v))
"""The finite ones: padding checks use them, so that a NaN leak fails the finiteness check
(``check_pooling_finite``) and not a padding one."""


def build_pooling(
    spec: PoolingSpec, options: Mapping[str, Any] | None = None, in_dim: int = IN_DIM, seed: int = 0
) -> nn.Module:
    """Build as the harness does (options typed and checked by the spec), after seeding torch."""
    torch.manual_seed(seed)
    module = spec.build(in_dim, **spec.resolve_options(options))
    if not isinstance(module, nn.Module):
        fail(spec, f"build(in_dim, **options) returned {type(module).__name__}, not nn.Module")
    conforms(spec, module, Pooling, "build(in_dim, **options)")
    out_dim = module.out_dim
    if not isinstance(out_dim, int) or isinstance(out_dim, bool) or out_dim < 1:
        fail(spec, f"the module needs an int attribute out_dim >= 1, it has {out_dim!r}")
    return module


def padded_batch(
    lengths: Sequence[int],
    frames: int,
    in_dim: int,
    seed: int,
    garbage: Sequence[float] = GARBAGE,
) -> tuple[Tensor, Tensor]:
    """Random ``[B, frames, in_dim]`` frames with ``garbage`` (NaN, inf, huge) after each
    length, and the ``[B, frames]`` mask that is True on the real frames."""
    gen = torch.Generator().manual_seed(seed)
    mask = torch.arange(frames)[None, :] < torch.tensor(list(lengths))[:, None]
    x = torch.randn(len(lengths), frames, in_dim, generator=gen)
    pick = torch.randint(len(garbage), x.shape, generator=gen)
    return torch.where(mask[..., None], x, torch.tensor(garbage)[pick]), mask


def check_pooling_out_dim(
    spec: PoolingSpec, options: Mapping[str, Any] | None = None, *, in_dim: int = IN_DIM
) -> None:
    """``forward(x, mask)`` is a float ``[B, out_dim]``, for ``in_dim`` and twice that, and for
    batches with and without padding."""
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
                fail(
                    spec,
                    f"in_dim={dim}: forward returned {shape}, expected [B, out_dim] = {expected}; "
                    "make out_dim match what forward returns",
                )
            if not out.is_floating_point():
                fail(spec, f"in_dim={dim}: forward returned {out.dtype}, not floating point")


def check_pooling_finite(
    spec: PoolingSpec, options: Mapping[str, Any] | None = None, *, in_dim: int = IN_DIM
) -> None:
    """The output is finite for finite frames, and stays finite when padded frames hold NaN
    or inf."""
    module = build_pooling(spec, options, in_dim).eval()
    x, mask = padded_batch([9, 4, 1], 9, in_dim, seed=5)
    with torch.no_grad():
        clean = module(torch.where(mask[..., None], x, 0.0), mask)
        dirty = module(x, mask)
    if not torch.isfinite(clean).all():
        fail(spec, "the output is not finite for finite input frames (padded frames zero)")
    if not torch.isfinite(dirty).all():
        fail(
            spec,
            "NaN or inf in padded frames reaches the output; padded frames must not enter any "
            "arithmetic (x * mask keeps a NaN: NaN * 0 is NaN), e.g. "
            "torch.where(mask[..., None], x, 0)",
        )


def check_pooling_padding_content(
    spec: PoolingSpec,
    options: Mapping[str, Any] | None = None,
    *,
    in_dim: int = IN_DIM,
    cases: int = 4,
) -> None:
    """What padded frames hold never changes the output: the same batch with other (finite)
    values in its padded frames pools to the same rows."""
    module = build_pooling(spec, options, in_dim).eval()
    for case in range(cases):
        lengths = [7, 1 + case, 3]
        x, mask = padded_batch(lengths, 8 + case, in_dim, seed=case, garbage=FINITE_GARBAGE)
        other, _ = padded_batch(lengths, 8 + case, in_dim, seed=99 + case, garbage=(1e4, -3.0))
        with torch.no_grad():
            first = module(x, mask)
            second = module(torch.where(mask[..., None], x, other), mask)
        if not torch.allclose(first, second, atol=1e-5, rtol=1e-4, equal_nan=True):
            fail(
                spec,
                "the values in padded frames change the output; ignore frames where mask is "
                "False, e.g. torch.where(mask[..., None], x, 0) and mask every sum, max or softmax",
            )


def check_pooling_padding(
    spec: PoolingSpec,
    options: Mapping[str, Any] | None = None,
    *,
    in_dim: int = IN_DIM,
    cases: int = 8,
) -> None:
    """Padded frames (whatever finite values they hold) never change the output: each row of
    a padded batch equals that clip pooled alone, without padding."""
    module = build_pooling(spec, options, in_dim).eval()
    gen = torch.Generator().manual_seed(1234)
    for case in range(cases):
        batch = int(torch.randint(1, 5, (1,), generator=gen))
        lengths = torch.randint(1, 8, (batch,), generator=gen)
        frames = int(lengths.max()) + case % 4
        x, mask = padded_batch(lengths.tolist(), frames, in_dim, case, FINITE_GARBAGE)
        with torch.no_grad():
            batched = module(x, mask)
            for row, length in enumerate(lengths.tolist()):
                alone = module(x[row : row + 1, :length], torch.ones(1, length, dtype=torch.bool))
                if not torch.allclose(
                    batched[row : row + 1], alone, atol=1e-5, rtol=1e-4, equal_nan=True
                ):
                    fail(
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
    if grad is None or grad[mask].abs().sum() == 0:
        fail(spec, "no gradient reaches the real input frames; forward must not detach x")
    if not torch.isfinite(grad).all():
        fail(spec, "the input frames' gradient is not finite (NaN or inf)")
    if (grad[~mask] != 0).any():
        fail(spec, "padded frames receive gradient; mask them out before any arithmetic")
    for name, param in module.named_parameters():
        if not param.requires_grad:
            continue
        if param.grad is None or not torch.isfinite(param.grad).all():
            fail(spec, f"parameter {name!r} gets no finite gradient; use it in forward or drop it")


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
    if not torch.allclose(outs[0], outs[1], rtol=0.0, atol=0.0, equal_nan=True):
        fail(
            spec,
            "two builds under the same torch seed give different outputs; draw all randomness "
            "from torch's generator",
        )


POOLING_CHECKS: tuple[Callable[..., None], ...] = (
    check_pooling_out_dim,
    check_pooling_finite,
    check_pooling_padding_content,
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
