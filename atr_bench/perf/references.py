"""Literal reference implementations of the built-in poolings: the textbook formula, no tricks.

Each wraps a built pooling and reuses its parameters, so the built-in can be checked against it
for equal outputs and gradients. They are slow on purpose (per-clip loops, per-step
recurrences, a materialised ``[B, T, K, D]`` VLAD tensor), so they are test oracles only and
never timed: a speed-up is stated against the vectorised baselines (``baselines.py``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from atr_bench.components.poolings.attention import TransformerPooling
from atr_bench.components.poolings.recurrent import LSTMPooling
from atr_bench.components.poolings.vlad import NetVLAD


def _zero_padding(x: Tensor, mask: Tensor) -> Tensor:
    """Padded frames become zeros, so no garbage value (inf, NaN) can reach any sum."""
    return torch.where(mask.unsqueeze(-1), x, 0.0)


def _normalise(v: Tensor, dim: int) -> Tensor:
    """``v / max(||v||, 1e-12)`` along ``dim``, as ``F.normalize`` defines it."""
    return v / v.norm(dim=dim, keepdim=True).clamp_min(1e-12)


class _Reference(nn.Module):
    """Holds the pooling it mirrors (sharing its parameters, mode and ``out_dim``)."""

    def __init__(self, pooling: nn.Module):
        super().__init__()
        self.pooling = pooling
        self.out_dim = pooling.out_dim
        self.train(pooling.training)


class MeanReference(_Reference):
    """Per clip: the average of its real frames."""

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        return torch.stack([clip[keep].mean(0) for clip, keep in zip(x, mask, strict=True)])


class MaxReference(_Reference):
    """Per clip: the per-dimension maximum of its real frames."""

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        return torch.stack([clip[keep].amax(0) for clip, keep in zip(x, mask, strict=True)])


class VLADReference(_Reference):
    """NetVLAD/NetRVLAD literally: ``V[b,k,:] = sum_t a[b,t,k] (x[b,t,:] - c_k)`` built from the
    broadcast ``[B, T, K, D]`` tensor of weighted residuals, summed over ``T``; then
    intra-normalisation per cluster and a global L2 normalisation. With ``assign_norm``, the
    real frames' logits go through ``F.batch_norm`` first."""

    pooling: NetVLAD

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        p = self.pooling
        x = _zero_padding(x, mask)
        logits = x @ p.assign.weight.T + p.assign.bias
        if p.assign_norm is not None:  # BatchNorm over the real frames' logits only
            bn, rows = p.assign_norm, logits[mask]
            assert (
                bn.running_mean is not None and bn.running_var is not None
            )  # as NetVLAD builds it
            stats = (bn.running_mean.clone(), bn.running_var.clone())
            normed = F.batch_norm(rows, *stats, bn.weight, bn.bias, self.training, 0.0, bn.eps)
            logits = torch.zeros_like(logits).index_put((mask,), normed)
        a = torch.softmax(logits, dim=-1)[..., : p.clusters] * mask.unsqueeze(-1)  # [B, T, K]
        frames = x.unsqueeze(2)  # [B, T, 1, D]
        residuals = frames - p.centroids if p.centroids is not None else frames
        vlad = (a.unsqueeze(-1) * residuals).sum(1)  # [B, T, K, D] summed over T -> [B, K, D]
        return _normalise(_normalise(vlad, dim=2).flatten(1), dim=1)


class LSTMReference(_Reference):
    """The LSTM cell equations step by step with the module's own weights (gate order i, f, g,
    o); a clip's state only advances on its real frames, so the last state is the last valid
    one, and the reverse direction starts at each clip's own last frame."""

    pooling: LSTMPooling

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        lstm = self.pooling.lstm
        inputs = _zero_padding(x, mask)
        frames = x.shape[1]
        finals: list[Tensor] = []
        for layer in range(lstm.num_layers):
            outputs, finals = [], []
            for direction in range(self.pooling.directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                w_ih, w_hh, b_ih, b_hh = (
                    getattr(lstm, name + suffix)
                    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
                )
                h = inputs.new_zeros(x.shape[0], lstm.hidden_size)
                c = torch.zeros_like(h)
                states: list[Tensor] = [h] * frames
                for t in reversed(range(frames)) if direction else range(frames):
                    i, f, g, o = (inputs[:, t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh).chunk(4, dim=1)
                    c_next = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                    h_next = torch.sigmoid(o) * torch.tanh(c_next)
                    real = mask[:, t, None]
                    h, c = torch.where(real, h_next, h), torch.where(real, c_next, c)
                    states[t] = h
                outputs.append(torch.stack(states, dim=1))
                finals.append(h)
            inputs = torch.cat(outputs, dim=-1)
        return torch.cat(finals, dim=-1)


class TransformerReference(_Reference):
    """Post-norm encoder layers written out: multi-head scaled dot-product attention with
    padded keys at -inf, residual + LayerNorm, ReLU feed-forward, residual + LayerNorm (dropout
    where the torch layer has it), then the mean over the real frames."""

    pooling: TransformerPooling

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        p = self.pooling
        frames = x.shape[1]
        h = _zero_padding(x, mask) @ p.project.weight.T + p.project.bias + p.position[:frames]
        for layer in p.encoder.layers:
            drop = layer.dropout.p if self.training else 0.0
            attended = self._attention(layer.self_attn, h, mask)
            h = self._layer_norm(h + F.dropout(attended, drop), layer.norm1)
            hidden = F.dropout(torch.relu(h @ layer.linear1.weight.T + layer.linear1.bias), drop)
            fed = hidden @ layer.linear2.weight.T + layer.linear2.bias
            h = self._layer_norm(h + F.dropout(fed, drop), layer.norm2)
        keep = mask.unsqueeze(-1).to(h.dtype)
        return (h * keep).sum(1) / keep.sum(1)

    def _attention(self, attn: nn.MultiheadAttention, h: Tensor, mask: Tensor) -> Tensor:
        batch, frames, width = h.shape
        heads = attn.num_heads
        q, k, v = (h @ attn.in_proj_weight.T + attn.in_proj_bias).chunk(3, dim=-1)
        q, k, v = (z.reshape(batch, frames, heads, -1).transpose(1, 2) for z in (q, k, v))
        scores = q @ k.transpose(-1, -2) / (width // heads) ** 0.5  # [B, heads, T, T]
        scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))
        weights = F.dropout(torch.softmax(scores, -1), attn.dropout if self.training else 0.0)
        out = (weights @ v).transpose(1, 2).reshape(batch, frames, width)
        return out @ attn.out_proj.weight.T + attn.out_proj.bias

    @staticmethod
    def _layer_norm(h: Tensor, norm: nn.LayerNorm) -> Tensor:
        centred = h - h.mean(-1, keepdim=True)
        scaled = centred / torch.sqrt(centred.pow(2).mean(-1, keepdim=True) + norm.eps)
        return scaled * norm.weight + norm.bias


REFERENCES: dict[str, Callable[[nn.Module], nn.Module]] = {
    "mean": MeanReference,
    "max": MaxReference,
    "netvlad": VLADReference,
    "netrvlad": VLADReference,
    "lstm": LSTMReference,
    "transformer": TransformerReference,
}
"""Built-in pooling name -> the reference that wraps a built module of it."""
