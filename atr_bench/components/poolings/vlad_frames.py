"""The frames of a VLAD pooling, read only through the three products it needs, so a kernel can
apply the mask where it reads them (plain torch here; Triton in ``vlad_triton``)."""

from __future__ import annotations

import torch
from torch import Tensor

from atr_bench.inner_product import inner_product


class DenseFrames:
    """Frames ``x[B, T, D]`` whose padded rows are finite (a padded row meets only zero
    weights, so it adds exactly nothing), read through the products VLAD needs."""

    def __init__(self, x: Tensor, mask: Tensor):
        self.x, self.mask = x, mask

    def logits(self, weight: Tensor, bias: Tensor) -> Tensor:
        """``x W^T + b``, ``[B, T, N]``."""
        batch, frames, dim = self.x.shape
        return inner_product(self.x.view(batch * frames, dim), weight, bias).view(batch, frames, -1)

    def probs(self, weight: Tensor, bias: Tensor) -> Tensor:
        """``softmax(x W^T + b)`` over clusters, ``[B, T, N]``."""
        batch, frames, dim = self.x.shape
        # Logits as [N, B*T]: the short side leading is twice as fast on CPU.
        logits = torch.addmm(bias.unsqueeze(1), weight, self.x.view(batch * frames, dim).T)
        return torch.softmax(logits, dim=0).T.view(batch, frames, -1)

    def times(self, m: Tensor) -> Tensor:
        """``x[b] m[b]^T``: ``[B, N, D] -> [B, T, N]``."""
        return torch.bmm(m, self.x.transpose(1, 2)).transpose(1, 2)

    def weigh(self, a: Tensor, centroids: Tensor | None = None) -> Tensor:
        """``a[b]^T x[b]``, minus ``sum_t a[b, t, k] c_k`` given centroids ``c[N, D]``:
        ``[B, T, N] -> [B, N, D]``."""
        out = torch.bmm(a.transpose(1, 2), self.x)
        if centroids is not None:
            out.addcmul_(a.sum(1).unsqueeze(-1), centroids, value=-1.0)
        return out

    def weigh_all(self, a: Tensor) -> Tensor:
        """``sum_b a[b]^T x[b]``: ``[B, T, N] -> [N, D]``."""
        return inner_product(a.reshape(-1, a.shape[-1]).T, self.x.reshape(-1, self.x.shape[-1]).T)
