"""The dual encoder of the protocol: a pooling per side, then a gated embedding unit into one
L2-normalised shared space, compared by cosine similarity."""

from __future__ import annotations

from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from atr_bench.errors import AtrBenchError
from atr_bench.plugins.contract import Pooling
from atr_bench.run.grad_buffer import GradBufferLinear


def lengths_to_mask(lengths: torch.Tensor, frames: int) -> torch.Tensor:
    """``[B]`` lengths -> ``[B, frames]`` bool mask, True on real frames."""
    return torch.arange(frames, device=lengths.device)[None, :] < lengths[:, None]


class ContextGating(nn.Module):
    """``x * sigmoid(W x + b)``: lets each dimension be switched by the others (Miech et al.);
    with ``batch_norm`` the gate's pre-activations are batch-normalised first, as in the
    paper's released code."""

    def __init__(self, dim: int, batch_norm: bool = False):
        super().__init__()
        self.fc = GradBufferLinear(dim, dim)
        self.norm = nn.BatchNorm1d(dim) if batch_norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.norm(self.fc(x)))


class GatedEmbeddingUnit(nn.Module):
    """Linear projection, context gating, L2 normalisation. The projection is the model's
    largest weight, so its gradient is kept in one buffer on the CPU (``grad_buffer``)."""

    def __init__(self, in_dim: int, out_dim: int, batch_norm: bool = False):
        super().__init__()
        self.fc = GradBufferLinear(in_dim, out_dim)
        self.gate = ContextGating(out_dim, batch_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.gate(self.fc(x)), dim=-1)


RENORM_EPS = 1e-7
"""The paper's code's floor in the pooled audio's renormalisation, ``x / (|x| + eps)``."""


class _Renorm(torch.autograd.Function):
    """``y = x / (|x| + eps)`` row by row, with the gradient in two passes over the rows:
    ``g / (|x| + eps) - (g . y) y / |x|`` (0 for the second term where ``|x|`` is 0, as the
    norm's own gradient is). Autograd's chain through the division and the norm makes five
    full-size temporaries, 12.6 MB each at the AudioCaps shape, fresh memory every step."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        norm = x.norm(dim=-1, keepdim=True)
        scale = norm + RENORM_EPS
        y = x / scale
        ctx.save_for_backward(y, norm, scale)
        return y

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        y, norm, scale = ctx.saved_tensors
        dots = torch.bmm(grad.unsqueeze(-2), y.unsqueeze(-1)).squeeze(-1)  # no [B, D] product
        along = torch.where(norm > 0, -dots / norm, 0.0)
        return (grad / scale).addcmul_(y, along)


def l2_renorm(x: torch.Tensor) -> torch.Tensor:
    """The paper's code's ``l2renorm``: each row divided by its norm plus ``RENORM_EPS``."""
    return cast(torch.Tensor, _Renorm.apply(x))


class DualEncoder(nn.Module):
    """Audio pooling + GEU and text pooling + GEU into ``embed_dim``; similarity is cosine.
    With ``audio_l2renorm`` the pooled audio is L2-normalised before its GEU (the paper's
    code's ``l2renorm``; it matters for poolings whose output is not unit-length, e.g. max)."""

    def __init__(
        self,
        audio_pooling: Pooling,
        text_pooling: Pooling,
        embed_dim: int = 768,
        gate_batch_norm: bool = False,
        audio_l2renorm: bool = False,
    ):
        super().__init__()
        self.audio_l2renorm = audio_l2renorm
        self.audio_pooling = audio_pooling
        self.text_pooling = text_pooling
        self.audio_head = GatedEmbeddingUnit(audio_pooling.out_dim, embed_dim, gate_batch_norm)
        self.text_head = GatedEmbeddingUnit(text_pooling.out_dim, embed_dim, gate_batch_norm)

    def embed_audio(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``[B, T, D]`` features and ``[B]`` lengths -> ``[B, embed_dim]`` unit vectors."""
        pooled = _pool(self.audio_pooling, "audio", x, lengths)
        if self.audio_l2renorm:
            pooled = l2_renorm(pooled)
        return self.audio_head(pooled)

    def embed_text(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``[B, L, D]`` token features and ``[B]`` lengths -> ``[B, embed_dim]`` unit vectors."""
        return self.text_head(_pool(self.text_pooling, "text", x, lengths))


def _pool(pooling: Pooling, side: str, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Run a pooling plugin, turning a broken output shape into a one-line error."""
    out = pooling(x, lengths_to_mask(lengths, x.shape[1]))
    if out.shape != (x.shape[0], pooling.out_dim):
        raise AtrBenchError(
            f"{side} pooling {type(pooling).__name__} returned {list(out.shape)} for a batch of "
            f"{x.shape[0]}, but its out_dim is {pooling.out_dim}; fix the plugin (check it with "
            "atr_bench.dev.conformance.check_pooling)"
        )
    return out
