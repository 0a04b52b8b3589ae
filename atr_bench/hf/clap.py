"""CLAP's two towers (``ClapModel.get_audio_features`` / ``get_text_features``), each
embedding L2-normalised as CLAP compares them. A clip longer than the processor's window is
cropped at random by the processor; the crop is seeded, so features are reproducible."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any

import numpy as np
import torch
from torch import nn

from atr_bench.errors import AtrBenchError
from atr_bench.hf.clap_spec import FLAG, OWNER
from atr_bench.hf.source import ModelSource, resolve_model

CROP_SEED = 0


@cache
def _load(source: ModelSource) -> tuple[Any, Any]:
    """The processor and the model in eval mode (both towers share one, loaded once)."""
    from transformers import AutoModel, AutoProcessor

    processor = AutoProcessor.from_pretrained(source.folder, local_files_only=True)
    model = AutoModel.from_pretrained(source.folder, local_files_only=True).eval()
    if not (hasattr(model, "get_audio_features") and hasattr(model, "get_text_features")):
        raise AtrBenchError(
            f"{OWNER}: {source.model!r} is a {type(model).__name__}, not a dual encoder with "
            "audio and text towers (get_audio_features, get_text_features); pass a CLAP model"
        )
    return processor, model


def _embeddings(out: Any) -> torch.Tensor:
    """The projected embeddings (a tensor, or the output's pooled one in transformers 5)."""
    tensor = out if isinstance(out, torch.Tensor) else out.pooler_output
    return nn.functional.normalize(tensor.float(), dim=-1)


@contextmanager
def _seeded_crops() -> Iterator[None]:
    """numpy's global generator (the processor's random crop) seeded, then restored."""
    state = np.random.get_state()
    np.random.seed(CROP_SEED)
    try:
        yield
    finally:
        np.random.set_state(state)


class ClapAudioTower(nn.Module):
    """``build(weights=None, device="cpu", model=...)``: waves -> ``[B, 1, dim]``."""

    def __init__(self, weights: object = None, device: str = "cpu", model: str = "") -> None:
        super().__init__()
        if weights is not None:
            raise AtrBenchError(f"{OWNER}: the weights are the model's; drop --weights {weights}")
        processor, network = _load(resolve_model(model, OWNER, FLAG))
        self.features = processor.feature_extractor
        self.network = network
        self.sample_rate = int(self.features.sampling_rate)
        self.dim = int(network.config.projection_dim)
        self.frames_per_second = 1.0 / float(self.features.max_length_s)
        self.to(device).eval()

    def frames_for(self, n_samples: int) -> int:
        return 1

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.ragged(list(wave))

    def ragged(self, waves: Sequence[torch.Tensor]) -> torch.Tensor:
        """One embedding per wave, each at its own length (the processor pads or crops)."""
        rows = [wave.detach().float().cpu().numpy() for wave in waves]
        with _seeded_crops():
            inputs = self.features(rows, sampling_rate=self.sample_rate, return_tensors="pt")
        device = next(self.network.parameters()).device
        inputs = {k: v.to(device) for k, v in inputs.items() if isinstance(v, torch.Tensor)}
        return _embeddings(self.network.get_audio_features(**inputs))[:, None]


class ClapTextTower:
    """``text_tower(model=...)``: captions -> one ``[1, dim]`` embedding each."""

    BATCH = 64

    def __init__(self, model: str = "") -> None:
        self.source = resolve_model(model, OWNER, FLAG)
        self.dim = int(_load(self.source)[1].config.projection_dim)

    @property
    def provenance(self) -> dict[str, str]:
        """The model as given, its revision (from the hub) and digest."""
        return self.source.provenance()

    @property
    def cache_tag(self) -> str:
        """The model's digest: the text cache's key."""
        return self.source.digest

    @torch.no_grad()
    def encode(self, captions: Sequence[str]) -> list[np.ndarray]:
        processor, model = _load(self.source)
        out: list[np.ndarray] = []
        device = next(model.parameters()).device
        for start in range(0, len(captions), self.BATCH):
            batch = list(captions[start : start + self.BATCH])
            inputs = processor.tokenizer(batch, padding=True, truncation=True, return_tensors="pt")
            inputs = {k: v.to(device) for k, v in inputs.items()}
            out += list(_embeddings(model.get_text_features(**inputs)).cpu().numpy()[:, None])
        return out
