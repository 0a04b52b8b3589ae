"""Transformer pooling: self-attention over the real frames, then their mean."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from atr_bench.components.poolings.simple import READOUTS, zero_padding
from atr_bench.errors import AtrBenchError


def quick_gelu(x: Tensor) -> Tensor:
    """CLIP's GELU approximation, ``x * sigmoid(1.702 x)``: the paper's code's activation."""
    return x * torch.sigmoid(1.702 * x)


ACTIVATIONS: dict[str, str | Callable[[Tensor], Tensor]] = {
    "relu": "relu",
    "gelu": "gelu",
    "quick_gelu": quick_gelu,
}


class TransformerPooling(nn.Module):
    """Input projection to ``d_model``, learned positional embedding (up to ``max_len``
    frames, initialised N(0, ``position_std``²)), a transformer encoder with a key padding mask
    (post-norm and ReLU by default; ``norm_first``, ``activation="quick_gelu"``,
    ``norm_eps=1e-12`` and ``position_std=1`` give the paper's code's blocks), and
    the masked mean of its outputs (``readout="normalised_mean"``: of its unit-length outputs,
    as in the paper's code).
    Positions count from the first frame, so the mask must be a prefix (padding at the end)."""

    def __init__(
        self,
        in_dim: int,
        d_model: int = 256,
        heads: int = 4,
        layers: int = 2,
        dropout: float = 0.1,
        max_len: int = 512,
        readout: str = "mean",
        norm_first: bool = False,
        activation: str = "relu",
        norm_eps: float = 1e-5,
        position_std: float = 0.02,
    ):
        super().__init__()
        self.readout = READOUTS[readout]
        self.max_len = max_len
        self.project = nn.Linear(in_dim, d_model)
        self.position = nn.Parameter(torch.randn(max_len, d_model) * position_std)
        layer = nn.TransformerEncoderLayer(
            d_model,
            heads,
            dim_feedforward=4 * d_model,
            dropout=dropout,
            activation=ACTIVATIONS[activation],
            layer_norm_eps=norm_eps,
            batch_first=True,
            norm_first=norm_first,
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out_dim = d_model

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        frames = x.shape[1]
        if frames > self.max_len:
            raise AtrBenchError(
                f"pooling 'transformer': input has {frames} frames but option "
                f"max_len={self.max_len}; raise it with --pooling-opt (or --text-pooling-opt) "
                f"max_len={frames}"
            )
        h = self.project(zero_padding(x, mask)) + self.position[:frames]
        h = self.encoder(h, src_key_padding_mask=~mask)
        return self.readout(h, mask)
