"""The VLAD pooling as one autograd function with a hand-written backward: the aggregation and
both normalisations are batched matrix products plus per-cluster scales applied in place.

``vlad_pool`` is the entry point; it picks the kernel (torch or Triton) and handles autocast."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from functools import cache
from typing import Any, NamedTuple

import torch
from torch import Tensor

from atr_bench.components.poolings.simple import reads_without_waiting, zero_padding
from atr_bench.components.poolings.vlad_frames import DenseFrames
from atr_bench.errors import AtrBenchError

EPS = 1e-12
"""The norm floor of ``F.normalize``, which the output matches."""


class AssignNorm(NamedTuple):
    """BatchNorm of the assignment logits over the real frames of the batch (the paper's code
    normalises them, padding included; here padding takes no part). ``mean``/``var`` are the
    running statistics, used as they are in eval and updated once per training call."""

    weight: Tensor
    bias: Tensor
    mean: Tensor
    var: Tensor
    momentum: float
    eps: float
    training: bool


class _Normed(NamedTuple):
    logits: Tensor  # the normalised logits, [B, T, N]
    unit: Tensor  # (z - mean) / std, zero on padded frames in training, [B, T, N]
    rstd: Tensor  # [N]
    n_frames: Tensor  # real frames in the batch (at least 1), a scalar tensor
    batch_mean: Tensor | None  # [N], training only
    batch_var: Tensor | None  # [N], biased, training only


def _wide(t: Tensor) -> torch.dtype:
    """float32, or the tensor's own type when wider (float64 stays float64)."""
    return torch.promote_types(t.dtype, torch.float32)


def _assign_norm(z: Tensor, mask: Tensor, norm: AssignNorm) -> _Normed:
    """Statistics and the affine map in at least float32 (bf16 batch statistics are too
    coarse); the normalised logits come back in the logits' own type."""
    keep, wide = mask.unsqueeze(-1), _wide(z)
    zw, count = z.to(wide), mask.sum().clamp_min(1)
    if not norm.training:
        rstd = torch.rsqrt(norm.var.to(wide) + norm.eps)
        unit = (zw - norm.mean.to(wide)) * rstd
        batch_mean = batch_var = None
    else:
        batch_mean = torch.where(keep, zw, 0.0).sum((0, 1)) / count
        centred = torch.where(keep, zw - batch_mean, 0.0)
        batch_var = centred.square().sum((0, 1)) / count
        rstd = torch.rsqrt(batch_var + norm.eps)
        unit = centred * rstd
    logits = (unit * norm.weight.to(wide) + norm.bias.to(wide)).to(z.dtype)
    return _Normed(logits, unit, rstd, count, batch_mean, batch_var)


def _assign_norm_backward(
    grad: Tensor, mask: Tensor, normed: _Normed, norm: AssignNorm
) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients of the logits, the norm's weight and its bias, from the normalised logits'
    (zero on padded frames, which took no part in the statistics)."""
    wide = normed.unit.dtype
    gw = grad.to(wide)
    grad_weight = (gw * normed.unit).sum((0, 1)).to(norm.weight.dtype)
    grad_bias = gw.sum((0, 1)).to(norm.bias.dtype)
    scaled = gw * norm.weight.to(wide)
    if not norm.training:
        return (scaled * normed.rstd).to(grad.dtype), grad_weight, grad_bias
    inner = scaled.sum((0, 1)) + normed.unit * (scaled * normed.unit).sum((0, 1))
    grad_z = torch.where(mask.unsqueeze(-1), (scaled - inner / normed.n_frames) * normed.rstd, 0.0)
    return grad_z.to(grad.dtype), grad_weight, grad_bias


class _Aggregate(NamedTuple):
    probs: Tensor  # [B, T, K + ghosts]
    assign: Tensor  # [B, T, K], zero on padded frames
    mass: Tensor  # [B, K]
    vlad: Tensor  # [B, K, D], before normalisation
    normed: _Normed | None


def _aggregate(
    frames: DenseFrames,
    weight: Tensor,
    bias: Tensor,
    centroids: Tensor | None,
    clusters: int,
    norm: AssignNorm | None,
) -> _Aggregate:
    normed = None
    if norm is None:
        probs = frames.probs(weight, bias)
    else:
        normed = _assign_norm(frames.logits(weight, bias), frames.mask, norm)
        probs = torch.softmax(normed.logits, dim=-1)
    assign = probs[..., :clusters] * frames.mask.unsqueeze(-1)
    vlad = frames.weigh(assign, centroids)  # sum_t a_tk (x_td - c_kd)
    return _Aggregate(probs, assign, assign.sum(1), vlad, normed)


def _frames(x: Tensor, mask: Tensor, kernel: str) -> DenseFrames:
    if kernel == "triton":
        from atr_bench.components.poolings.vlad_triton import TritonFrames

        return TritonFrames(x, mask)
    return DenseFrames(x, mask)


class _VLAD(torch.autograd.Function):
    """``x[B,T,D], mask[B,T] -> [B, K*D]``; saves the frames, the soft assignment, the output
    and the norms, and computes every gradient with batched matrix products."""

    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,
        mask: Tensor,
        weight: Tensor,
        bias: Tensor,
        centroids: Tensor | None,
        clusters: int,
        kernel: str,
        norm_weight: Tensor | None,
        norm_bias: Tensor | None,
        norm_state: tuple[Tensor, Tensor, float, float, bool] | None,
    ) -> Tensor:
        norm = None
        if norm_state is not None:
            assert norm_weight is not None and norm_bias is not None  # they come with the state
            norm = AssignNorm(norm_weight, norm_bias, *norm_state)
        checked = kernel == "torch" and reads_without_waiting(x)
        if kernel == "torch" and not checked:  # on a GPU: mask a copy, never wait for a check
            frames = DenseFrames(zero_padding(x, mask), mask)
        else:
            frames = _frames(x, mask, kernel)
        agg = _aggregate(frames, weight, bias, centroids, clusters, norm)
        norms = torch.linalg.vector_norm(agg.vlad, dim=2, keepdim=True)  # [B, K, 1]
        if checked and not torch.isfinite(norms).all():
            # inf or NaN somewhere (zero times inf is NaN; a norm of them is not finite, and
            # checking the norms reads B*K numbers instead of B*K*D): mask a copy. When the
            # padding was the culprit this gives the right numbers; when a real frame was, the
            # same NaNs; when finite values overflowed the norm, the same numbers again.
            frames = DenseFrames(zero_padding(x, mask), mask)
            agg = _aggregate(frames, weight, bias, centroids, clusters, norm)
            norms = torch.linalg.vector_norm(agg.vlad, dim=2, keepdim=True)
        if norm is not None and norm.training and agg.normed is not None:
            _update_running(norm, agg.normed)
        ctx.norm, ctx.normed = norm, agg.normed
        vlad = agg.vlad
        intra = norms.clamp_min(EPS)
        total = (norms / intra).square().sum(1, keepdim=True).sqrt()  # [B, 1, 1]
        vlad.mul_(1.0 / (intra * total.clamp_min(EPS)))  # now the output, in place
        ctx.kernel = kernel
        ctx.save_for_backward(
            frames.x, mask, weight, centroids, agg.probs, agg.assign, agg.mass, vlad, norms, total
        )
        return vlad.view(vlad.shape[0], -1)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, mask, weight, centroids, probs, assign, mass, out, norms, total = ctx.saved_tensors
        frames = _frames(x, mask, ctx.kernel)
        clusters = out.shape[1]
        grad_vlad = _normalise_backward(grad.view_as(out), out, norms, total)
        grad_assign = frames.times(grad_vlad)  # [B, T, K]
        grad_centroids = None
        if centroids is not None:
            grad_assign -= torch.einsum("bkd,kd->bk", grad_vlad, centroids).unsqueeze(1)
            if ctx.needs_input_grad[4]:
                grad_centroids = -torch.einsum("bk,bkd->kd", mass, grad_vlad)
        grad_probs = torch.zeros_like(probs)
        grad_probs[..., :clusters] = grad_assign * mask.unsqueeze(-1)
        grad_logits = probs * (grad_probs - (grad_probs * probs).sum(-1, keepdim=True))
        grad_norm_weight = grad_norm_bias = None
        if ctx.norm is not None:
            grad_logits, grad_norm_weight, grad_norm_bias = _assign_norm_backward(
                grad_logits, mask, ctx.normed, ctx.norm
            )
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:  # padded rows stay exactly 0: zero assignment and logit grad
            grad_x = (grad_logits @ weight).baddbmm_(assign, grad_vlad)
        if ctx.needs_input_grad[2]:
            grad_weight = frames.weigh_all(grad_logits)
        if ctx.needs_input_grad[3]:
            grad_bias = grad_logits.sum((0, 1))
        return (
            *(grad_x, None, grad_weight, grad_bias, grad_centroids, None, None),
            *(grad_norm_weight, grad_norm_bias, None),
        )


def _update_running(norm: AssignNorm, normed: _Normed) -> None:
    """Running mean and unbiased variance, as ``nn.BatchNorm1d`` keeps them (no host sync)."""
    assert normed.batch_mean is not None and normed.batch_var is not None  # a training call's
    unbiased = normed.batch_var * normed.n_frames / (normed.n_frames - 1).clamp_min(1)
    norm.mean.lerp_(normed.batch_mean.to(norm.mean.dtype), norm.momentum)
    norm.var.lerp_(unbiased.to(norm.var.dtype), norm.momentum)


def _normalise_backward(grad: Tensor, out: Tensor, norms: Tensor, total: Tensor) -> Tensor:
    """Gradient through ``y = normalize(normalize(v, dim=2).flatten(1), dim=1)`` from ``y``
    and the norms alone: ``grad_v = alpha * grad + beta * y`` with per-cluster scalars."""
    intra, outer = norms.clamp_min(EPS), total.clamp_min(EPS)
    dots = torch.bmm(out.view(-1, 1, out.shape[2]), grad.view(-1, out.shape[2], 1))
    dots = dots.view_as(norms)  # y_k . g_k, [B, K, 1]
    # grad_z = grad / outer - c * y, where c = (y . g) / outer while the outer norm is not floored
    c = dots.sum(1, keepdim=True) / outer * (total > EPS)
    # grad_v = (grad_z - z (z . grad_z)) / intra with z = outer * y, while the cluster's norm
    # is not floored; ||y_k||^2 = (norms / intra)^2 / outer^2.
    z_dot = dots - outer * c * (norms / intra / outer).square()
    beta = -(c + (norms > EPS) * outer * z_dot) / intra
    return (grad * (1.0 / (intra * outer))).addcmul_(out, beta)


TRITON_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


@cache
def _triton_installed() -> bool:
    return importlib.util.find_spec("triton") is not None


def resolve_kernel(kernel: str, x: Tensor) -> str:
    """``torch`` or ``triton`` for ``x``. ``auto`` takes Triton for CUDA tensors of a type it
    handles when it is installed, torch otherwise (the CPU fallback); asking for ``triton``
    where it cannot run is an error that says why."""
    if kernel == "torch":
        return kernel
    usable = x.is_cuda and x.dtype in TRITON_DTYPES and _triton_installed()
    if kernel == "auto" or usable:
        return "triton" if usable else "torch"
    fix = "or use --pooling-opt kernel=torch"
    if not _triton_installed():
        raise AtrBenchError(
            f"VLAD kernel=triton: Triton is not installed (pip install triton), {fix}"
        )
    if x.dtype not in TRITON_DTYPES:
        raise AtrBenchError(f"VLAD kernel=triton: no kernel for {x.dtype}, {fix}")
    from atr_bench.components.poolings.vlad_triton import interpreting

    if not interpreting():
        raise AtrBenchError(
            f"VLAD kernel=triton: the input is on {x.device.type}; the Triton kernels run on "
            f"CUDA (or in Triton's interpreter, TRITON_INTERPRET=1), {fix}"
        )
    return kernel


def vlad_pool(
    x: Tensor,
    mask: Tensor,
    weight: Tensor,
    bias: Tensor,
    centroids: Tensor | None,
    clusters: int,
    kernel: str = "auto",
    norm: AssignNorm | None = None,
) -> Tensor:
    """NetVLAD (with ``centroids``) or NetRVLAD (``None``) of ``x[B, T, D]`` under ``mask``,
    with the assignment logits batch-normalised when ``norm`` is given. Under autocast (the
    trainer's bf16 on CUDA) it runs wholly in the autocast dtype, as
    ``torch.amp.custom_fwd(cast_inputs=...)`` would: its backward cannot mix dtypes."""
    device = x.device.type
    if torch.is_autocast_enabled(device):
        dtype = torch.get_autocast_dtype(device)
        x, weight, bias = x.to(dtype), weight.to(dtype), bias.to(dtype)
        centroids = None if centroids is None else centroids.to(dtype)
        with torch.autocast(device, enabled=False):
            return vlad_pool(x, mask, weight, bias, centroids, clusters, kernel, norm)
    kernel = resolve_kernel(kernel, x)
    norm_args: tuple[Tensor | None, Tensor | None, tuple[Tensor, Tensor, float, float, bool] | None]
    norm_args = (None, None, None)
    if norm is not None:
        state = (norm.mean, norm.var, norm.momentum, norm.eps, norm.training)
        norm_args = (norm.weight, norm.bias, state)
    try:
        return _VLAD.apply(x, mask, weight, bias, centroids, clusters, kernel, *norm_args)
    except Exception as exc:
        if kernel == "torch":
            raise
        raise AtrBenchError(  # a kernel that does not build or launch on this machine
            f"the Triton VLAD kernel failed on {x.device}: {type(exc).__name__}: {exc}; "
            "--pooling-opt kernel=torch runs the same pooling without it"
        ) from exc


@cache
def compiled_vlad_pool() -> Callable[..., Tensor]:
    """``vlad_pool`` through ``torch.compile``, built once and shared by every module."""
    return torch.compile(vlad_pool)
