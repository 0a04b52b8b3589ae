"""The vectorised baselines a speed-up is stated against: each pooling's formula as a competent
user (or the paper's released code) writes it in plain torch, batched, with no per-clip loop.

Masked mean and max are one masked reduction; NetVLAD/NetRVLAD are the softmax of the
assignment, one ``einsum`` for the aggregation and two normalisations. They reuse the built
pooling's parameters, so a test checks they give its numbers and the suite times them beside
it. The LSTM and transformer poolings are themselves the torch modules (``nn.LSTM`` on a packed
batch, ``nn.TransformerEncoder`` with a key-padding mask), which is what a user writes: they have
no separate baseline. The literal per-clip versions in ``references.py`` are test oracles only.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from atr_bench.components.poolings.vlad import NetVLAD


class _Baseline(nn.Module):
    """Holds the pooling it mirrors (sharing its parameters, mode and ``out_dim``)."""

    def __init__(self, pooling: nn.Module):
        super().__init__()
        self.pooling = pooling
        self.out_dim = pooling.out_dim
        self.train(pooling.training)


class MeanBaseline(_Baseline):
    """The real frames' sum over their count, padding filled with zeros."""

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        keep = mask.unsqueeze(-1)
        return x.masked_fill(~keep, 0.0).sum(1) / keep.sum(1).clamp_min(1).to(x.dtype)


class MaxBaseline(_Baseline):
    """The maximum over the frames, padding filled with -inf."""

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        return x.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(1)


class VLADBaseline(_Baseline):
    """``softmax(x W + b)`` over the clusters (ghosts dropped, padding's weight zero), then
    ``V = einsum(a, x) - sum_t(a) c`` (NetVLAD; NetRVLAD has no centroids), intra- and global
    L2 normalisation. With ``assign_norm`` the real frames' logits are batch-normalised."""

    pooling: NetVLAD

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        p = self.pooling
        x = x.masked_fill(~mask.unsqueeze(-1), 0.0)
        logits = F.linear(x, p.assign.weight, p.assign.bias)
        if p.assign_norm is not None:  # statistics of the real frames only, as the pooling's
            bn = p.assign_norm
            assert bn.running_mean is not None and bn.running_var is not None  # tracked stats
            stats = (bn.running_mean.clone(), bn.running_var.clone())
            rows = F.batch_norm(
                logits[mask], *stats, bn.weight, bn.bias, self.training, 0.0, bn.eps
            )
            logits = logits.index_put((mask,), rows)
        a = logits.softmax(-1)[..., : p.clusters] * mask.unsqueeze(-1)
        vlad = torch.einsum("btk,btd->bkd", a, x)
        if p.centroids is not None:
            vlad = vlad - a.sum(1).unsqueeze(-1) * p.centroids
        return F.normalize(F.normalize(vlad, dim=2).flatten(1), dim=1)


BASELINES: dict[str, Callable[[nn.Module], nn.Module]] = {
    "mean": MeanBaseline,
    "max": MaxBaseline,
    "netvlad": VLADBaseline,
    "netrvlad": VLADBaseline,
}
"""Built-in pooling name -> the vectorised baseline that wraps a built module of it."""
