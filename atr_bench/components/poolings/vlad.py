"""NetVLAD and NetRVLAD (Miech et al., "Learnable pooling with context gating", 2017).

Soft-assign every frame to ``clusters`` (+ ``ghost_clusters``, which take part in the softmax and
are then dropped), aggregate per cluster with one batched matrix product (padded frames get zero
assignment), intra-normalise each cluster, flatten and L2-normalise.

The whole pooling is one autograd function with a hand-written backward: the aggregation and
both normalisations are batched matrix products plus per-cluster scales applied in place. The
frames are only ever read through three products (:class:`DenseFrames`), so the mask can be
applied where they are read: by the Triton kernels on CUDA (``vlad_triton``), or, in plain
torch, by trusting finite padding and masking a copy only when the result says it is not.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from atr_bench.components.poolings.simple import apply_padding
from atr_bench.components.poolings.vlad_function import AssignNorm, compiled_vlad_pool, vlad_pool


class NetVLAD(nn.Module):
    """Each cluster aggregates the residuals ``x - c_k`` to a learned centroid;
    ``out_dim = clusters * in_dim``. ``kernel`` picks the implementation (``auto``: the fused
    Triton kernels on CUDA when Triton is installed, plain torch otherwise). With
    ``torch_compile`` the torch implementation runs through ``torch.compile`` (the first call
    per shape compiles, which takes a while). ``assign_norm="batch"`` batch-normalises the
    assignment logits, as the paper's code does (over the real frames only, here).
    ``assign_bias=False`` and ``assign_init="normal"`` give the assignment the paper's code's
    form (no bias, N(0, 1/D) weights); ``padding="zeros"`` counts padded frames as frames of
    zeros, in the assignment mass and the BatchNorm statistics, as the paper's code does."""

    name = "netvlad"
    residual = True

    def __init__(
        self,
        in_dim: int,
        clusters: int = 12,
        ghost_clusters: int = 0,
        kernel: str = "auto",
        torch_compile: bool = False,
        assign_norm: str = "none",
        assign_bias: bool = True,
        assign_init: str = "uniform",
        padding: str = "masked",
    ):
        super().__init__()
        self.clusters = clusters
        self.kernel = "torch" if torch_compile else kernel
        self.torch_compile = torch_compile
        self.padding = padding
        self.assign = nn.Linear(in_dim, clusters + ghost_clusters, bias=assign_bias)
        if assign_init == "normal":
            nn.init.normal_(self.assign.weight, std=in_dim**-0.5)
        if not assign_bias:  # the kernels take a bias: a constant zero one
            self.register_buffer("zero_bias", torch.zeros(clusters + ghost_clusters))
        batch_norm = assign_norm == "batch"
        self.assign_norm = nn.BatchNorm1d(clusters + ghost_clusters) if batch_norm else None
        self.centroids = (
            nn.Parameter(torch.randn(clusters, in_dim) / in_dim**0.5) if self.residual else None
        )
        self.out_dim = clusters * in_dim

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        pool = compiled_vlad_pool() if self.torch_compile else vlad_pool
        x, mask = apply_padding(self.padding, x, mask)
        a = self.assign
        bias = self.zero_bias if a.bias is None else a.bias
        return pool(
            x, mask, a.weight, bias, self.centroids, self.clusters, self.kernel, self._norm()
        )

    def _norm(self) -> AssignNorm | None:
        bn = self.assign_norm
        if bn is None:
            return None
        mean, var, tracked, momentum = (
            bn.running_mean,
            bn.running_var,
            bn.num_batches_tracked,
            bn.momentum,
        )
        # BatchNorm1d as built in __init__ keeps running statistics with a fixed momentum
        assert mean is not None and var is not None and tracked is not None
        assert momentum is not None
        if self.training:
            tracked.add_(1)
        return AssignNorm(bn.weight, bn.bias, mean, var, momentum, bn.eps, self.training)


class NetRVLAD(NetVLAD):
    """NetVLAD without centroids: soft-assignment-weighted sums of the frames themselves."""

    name = "netrvlad"
    residual = False
