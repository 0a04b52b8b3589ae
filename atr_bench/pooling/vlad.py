"""NetVLAD and NetRVLAD (Miech et al., "Learnable pooling with context gating", 2017).

Soft-assign every frame to ``clusters`` (+ ``ghost_clusters``, which take part in the softmax and
are then dropped), aggregate per cluster with one batched matrix product (the mask zeroes the
assignment of padded frames), intra-normalise each cluster, flatten and L2-normalise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from atr_bench.pooling.simple import check_option, zero_padding


class NetVLAD(nn.Module):
    """Each cluster aggregates the residuals ``x - c_k`` to a learned centroid;
    ``out_dim = clusters * in_dim``."""

    name = "netvlad"
    residual = True

    def __init__(self, in_dim: int, clusters: int = 12, ghost_clusters: int = 0):
        super().__init__()
        check_option(self.name, "clusters", clusters, clusters >= 1, ">= 1")
        check_option(self.name, "ghost_clusters", ghost_clusters, ghost_clusters >= 0, ">= 0")
        self.clusters = clusters
        self.assign = nn.Linear(in_dim, clusters + ghost_clusters)
        self.centroids = (
            nn.Parameter(torch.randn(clusters, in_dim) / in_dim**0.5) if self.residual else None
        )
        self.out_dim = clusters * in_dim

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        x = zero_padding(x, mask)
        a = torch.softmax(self.assign(x), dim=-1)[..., : self.clusters]
        a = a * mask.unsqueeze(-1).to(a.dtype)  # [B, T, K]; padded frames weigh nothing
        vlad = torch.bmm(a.transpose(1, 2), x)  # [B, K, D] = sum_t a_tk x_td
        if self.centroids is not None:
            vlad = vlad - a.sum(1).unsqueeze(-1) * self.centroids
        vlad = F.normalize(vlad, dim=2)
        return F.normalize(vlad.flatten(1), dim=1)


class NetRVLAD(NetVLAD):
    """NetVLAD without centroids: soft-assignment-weighted sums of the frames themselves."""

    name = "netrvlad"
    residual = False
