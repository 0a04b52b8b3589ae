"""The ``hf`` extractor: a ``transformers`` audio model and its feature extractor, mapping
waves ``[B, N]`` to the hidden states of one layer (or the mean of all) ``[B, T, dim]``, AST's
patch grid averaged over frequency, optionally averaged over ``stride`` frames."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from atr_bench.errors import AtrBenchError
from atr_bench.hf.audio_framing import AST_EXTRA_TOKENS, read_framing
from atr_bench.hf.extractor_spec import FLAG, OWNER
from atr_bench.hf.layers import LAST, check_layer, select
from atr_bench.hf.source import resolve_model


class HFExtractor(nn.Module):
    """``build(weights=None, device="cpu", model=..., layer="last", stride=1)``."""

    def __init__(
        self,
        weights: object = None,
        device: str = "cpu",
        model: str = "",
        layer: str = LAST,
        stride: int = 1,
    ) -> None:
        super().__init__()
        from transformers import AutoFeatureExtractor, AutoModel

        if weights is not None:
            raise AtrBenchError(f"{OWNER}: the weights are the model's; drop --weights {weights}")
        source = resolve_model(model, OWNER, FLAG)
        self.framing = read_framing(source.folder, OWNER)
        check_layer(layer, self.framing.layers, OWNER)
        self.features = AutoFeatureExtractor.from_pretrained(source.folder, local_files_only=True)
        network = AutoModel.from_pretrained(source.folder, local_files_only=True)
        self.network = network.get_encoder() if self.framing.kind == "whisper" else network
        self.layer, self.stride = layer, stride
        self.sample_rate = self.framing.sample_rate
        self.dim = self.framing.dim
        self.frames_per_second = self.framing.frames_per_second / stride
        self.to(device).eval()

    def frames_for(self, n_samples: int) -> int:
        return math.ceil(self.framing.frames_for(n_samples) / self.stride)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.ragged(list(wave))

    def ragged(self, waves: Sequence[torch.Tensor]) -> torch.Tensor:
        """Each wave at its own length: AST and Whisper bring every clip to one input size
        themselves, so they take the batch at once; a convolutional front end (no attention
        mask in most such models) runs once per distinct length, so no clip sees padding."""
        rows = [wave.detach().float().cpu().numpy() for wave in waves]
        if self.framing.kind != "conv":
            return self._frames(rows)
        groups: dict[int, list[int]] = {}
        for index, row in enumerate(rows):
            groups.setdefault(len(row), []).append(index)
        out: dict[int, torch.Tensor] = {}
        for indices in groups.values():
            frames = self._frames([rows[i] for i in indices])
            out.update(zip(indices, frames, strict=True))
        return nn.utils.rnn.pad_sequence([out[i] for i in range(len(rows))], batch_first=True)

    def _frames(self, rows: list[np.ndarray]) -> torch.Tensor:
        inputs = self.features(rows, sampling_rate=self.sample_rate, return_tensors="pt")
        device = next(self.network.parameters()).device
        inputs = {k: v.to(device) for k, v in inputs.items() if isinstance(v, torch.Tensor)}
        states = self.network(**inputs, output_hidden_states=True).hidden_states
        frames = select(states, self.layer)
        if self.framing.kind == "ast":  # [B, 2 + F*T, D] -> mean over the frequency patches
            freq, time = self.framing.grid
            frames = frames[:, AST_EXTRA_TOKENS:].reshape(len(rows), freq, time, -1).mean(1)
        return _average(frames, self.stride)


def _average(frames: torch.Tensor, stride: int) -> torch.Tensor:
    """Means of consecutive runs of ``stride`` frames (the last run may be shorter)."""
    if stride == 1:
        return frames
    batch, length, dim = frames.shape
    runs = math.ceil(length / stride)
    padded = frames.new_zeros(batch, runs * stride, dim)
    padded[:, :length] = frames
    counts = torch.full((runs,), float(stride), device=frames.device)
    counts[-1] = length - (runs - 1) * stride
    return padded.reshape(batch, runs, stride, dim).sum(2) / counts[None, :, None]
