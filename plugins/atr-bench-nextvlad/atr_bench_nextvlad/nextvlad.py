"""NeXtVLAD (Lin et al. 2018): NetVLAD on an expanded, grouped input.

Each frame is expanded to ``expansion * in_dim`` and split into ``groups`` slices of
``expansion * in_dim / groups``. Every slice is soft-assigned to ``clusters`` centroids, and a
sigmoid attention per group weighs how much that slice counts. The residuals of all slices of all
real frames are summed per cluster, each cluster is L2-normalised, and the flattened result is
L2-normalised: ``out_dim = clusters * expansion * in_dim / groups``. Padded frames are zeroed and
get zero weight, so they never change the output.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from atr_bench import AtrBenchError


class NeXtVLAD(nn.Module):
    """Expansion, grouped soft assignment to shared centroids, attention over groups."""

    def __init__(self, in_dim: int, clusters: int = 12, expansion: int = 2, groups: int = 8):
        super().__init__()
        wide = expansion * in_dim
        if wide % groups:  # in_dim is known only here; the options' own rules are in the spec
            raise AtrBenchError(
                f"pooling 'nextvlad': option groups={groups} must be a divisor of "
                f"expansion * in_dim = {wide}; fix it with --pooling-opt (or --text-pooling-opt) "
                "groups=..."
            )
        self.clusters, self.groups, self.width = clusters, groups, wide // groups
        self.expand = nn.Linear(in_dim, wide)
        self.attention = nn.Linear(wide, groups)
        self.assign = nn.Linear(wide, groups * clusters)
        self.centroids = nn.Parameter(torch.randn(clusters, self.width) / self.width**0.5)
        self.out_dim = clusters * self.width

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        batch, frames, _ = x.shape
        x = self.expand(torch.where(mask.unsqueeze(-1), x, 0.0))  # [B, T, λD]
        gate = torch.sigmoid(self.attention(x)) * mask.unsqueeze(-1).to(x.dtype)  # [B, T, G]
        assign = torch.softmax(
            self.assign(x).view(batch, frames, self.groups, self.clusters), dim=-1
        )
        weight = (assign * gate.unsqueeze(-1)).view(batch, frames * self.groups, self.clusters)
        slices = x.view(batch, frames * self.groups, self.width)  # [B, T*G, λD/G]
        vlad = torch.bmm(weight.transpose(1, 2), slices)  # [B, K, λD/G]
        vlad = vlad - weight.sum(1).unsqueeze(-1) * self.centroids
        vlad = F.normalize(vlad, dim=2)
        return F.normalize(vlad.flatten(1), dim=1)
