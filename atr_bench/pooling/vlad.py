"""NetVLAD and NetRVLAD (Miech et al., "Learnable pooling with context gating", 2017).

Soft-assign every frame to ``clusters`` (+ ``ghost_clusters``, which take part in the softmax and
are then dropped), aggregate per cluster with one batched matrix product (the mask zeroes the
assignment of padded frames), intra-normalise each cluster, flatten and L2-normalise.

The whole pooling is one autograd function with a hand-written backward: the aggregation and
both normalisations are batched matrix products plus per-cluster scales applied in place, so a
step allocates only the masked copy of the input, the ``[B, K, D]`` result and the gradients
(the eager composite of the same formula allocates about a dozen ``[B, K, D]`` temporaries).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx

from atr_bench.pooling.simple import check_option

EPS = 1e-12
"""The norm floor of ``F.normalize``, which the output matches."""


class _VLAD(torch.autograd.Function):
    """``x[B,T,D], mask[B,T] -> [B, K*D]``; saves the masked input, the soft assignment, the
    output and the norms, and computes every gradient with batched matrix products."""

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        x: Tensor,
        mask: Tensor,
        weight: Tensor,
        bias: Tensor,
        centroids: Tensor | None,
        clusters: int,
    ) -> Tensor:
        batch, frames, dim = x.shape
        keep = mask.unsqueeze(-1)
        x = torch.where(keep, x, 0.0)  # the one copy: padding may hold inf or NaN
        # Logits as [K + ghosts, B*T]: the short side leading is twice as fast on CPU.
        logits = torch.addmm(bias.unsqueeze(1), weight, x.view(batch * frames, dim).T)
        probs = torch.softmax(logits, dim=0).T.view(batch, frames, -1)  # [B, T, K + ghosts]
        assign = probs[..., :clusters] * keep  # [B, T, K]; padded frames weigh nothing
        vlad = torch.bmm(assign.transpose(1, 2), x)  # [B, K, D] = sum_t a_tk x_td
        mass = assign.sum(1)  # [B, K]
        if centroids is not None:
            vlad.addcmul_(mass.unsqueeze(-1), centroids, value=-1.0)
        norms = torch.linalg.vector_norm(vlad, dim=2, keepdim=True)  # [B, K, 1]
        intra = norms.clamp_min(EPS)
        total = (norms / intra).square().sum(1, keepdim=True).sqrt()  # [B, 1, 1]
        vlad.mul_(1.0 / (intra * total.clamp_min(EPS)))  # now the output, in place
        ctx.save_for_backward(x, mask, weight, centroids, probs, assign, mass, vlad, norms, total)
        return vlad.view(batch, -1)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, mask, weight, centroids, probs, assign, mass, out, norms, total = ctx.saved_tensors
        _, clusters, dim = out.shape
        grad_vlad = _normalise_backward(grad.view_as(out), out, norms, total)
        grad_assign = torch.bmm(grad_vlad, x.transpose(1, 2)).transpose(1, 2)  # [B, T, K]
        grad_centroids = None
        if centroids is not None:
            grad_assign -= torch.einsum("bkd,kd->bk", grad_vlad, centroids).unsqueeze(1)
            if ctx.needs_input_grad[4]:
                grad_centroids = -torch.einsum("bk,bkd->kd", mass, grad_vlad)
        grad_probs = torch.zeros_like(probs)
        grad_probs[..., :clusters] = grad_assign * mask.unsqueeze(-1)
        grad_logits = probs * (grad_probs - (grad_probs * probs).sum(-1, keepdim=True))
        flat_grad_logits = grad_logits.view(-1, probs.shape[-1])
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:  # padded rows stay exactly 0: zero assignment and logit grad
            grad_x = (flat_grad_logits @ weight).view_as(x).baddbmm_(assign, grad_vlad)
        if ctx.needs_input_grad[2]:
            grad_weight = flat_grad_logits.T @ x.view(-1, dim)
        if ctx.needs_input_grad[3]:
            grad_bias = flat_grad_logits.sum(0)
        return grad_x, None, grad_weight, grad_bias, grad_centroids, None


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


def vlad_pool(
    x: Tensor, mask: Tensor, weight: Tensor, bias: Tensor, centroids: Tensor | None, clusters: int
) -> Tensor:
    """NetVLAD (with ``centroids``) or NetRVLAD (``None``) of ``x[B, T, D]`` under ``mask``.
    Under autocast (the trainer's bf16 on CUDA) it runs wholly in the autocast dtype, as
    ``torch.amp.custom_fwd(cast_inputs=...)`` would: its backward cannot mix dtypes."""
    device = x.device.type
    if not torch.is_autocast_enabled(device):
        return _VLAD.apply(x, mask, weight, bias, centroids, clusters)
    dtype = torch.get_autocast_dtype(device)
    cast = [None if t is None else t.to(dtype) for t in (x, weight, bias, centroids)]
    with torch.autocast(device, enabled=False):
        return _VLAD.apply(cast[0], mask, *cast[1:], clusters)


@cache
def compiled_vlad_pool() -> Callable[..., Tensor]:
    """``vlad_pool`` through ``torch.compile``, built once and shared by every module."""
    return torch.compile(vlad_pool)


class NetVLAD(nn.Module):
    """Each cluster aggregates the residuals ``x - c_k`` to a learned centroid;
    ``out_dim = clusters * in_dim``. With ``torch_compile`` the forward runs through
    ``torch.compile`` (the first call per shape compiles, which takes a while)."""

    name = "netvlad"
    residual = True

    def __init__(
        self,
        in_dim: int,
        clusters: int = 12,
        ghost_clusters: int = 0,
        torch_compile: bool = False,
    ):
        super().__init__()
        check_option(self.name, "clusters", clusters, clusters >= 1, ">= 1")
        check_option(self.name, "ghost_clusters", ghost_clusters, ghost_clusters >= 0, ">= 0")
        self.clusters = clusters
        self.torch_compile = torch_compile
        self.assign = nn.Linear(in_dim, clusters + ghost_clusters)
        self.centroids = (
            nn.Parameter(torch.randn(clusters, in_dim) / in_dim**0.5) if self.residual else None
        )
        self.out_dim = clusters * in_dim

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        pool = compiled_vlad_pool() if self.torch_compile else vlad_pool
        return pool(x, mask, self.assign.weight, self.assign.bias, self.centroids, self.clusters)


class NetRVLAD(NetVLAD):
    """NetVLAD without centroids: soft-assignment-weighted sums of the frames themselves."""

    name = "netrvlad"
    residual = False
