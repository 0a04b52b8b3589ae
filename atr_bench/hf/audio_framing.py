"""How a ``transformers`` audio model turns samples into frames, read from its own configs
(``config.json`` and the feature extractor's): the sample rate, the frame rate, the width, the
layer count and how many frames a clip of ``n`` samples gives. Three front ends are known:
strided convolutions on the wave (wav2vec 2.0, HuBERT, WavLM, data2vec-audio, ...), AST's
patches of a 10 ms filterbank, and Whisper's encoder (30 s of log-mel at 2x stride)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atr_bench.errors import AtrBenchError

CONV_FRONT_ENDS = frozenset(
    {
        "wav2vec2",
        "wav2vec2-conformer",
        "hubert",
        "wavlm",
        "data2vec-audio",
        "unispeech",
        "unispeech-sat",
    }
)
"""Model types whose frames are exactly their strided convolutions' output (``conv_kernel``,
``conv_stride``): no later layer changes the frame rate."""
AST = "audio-spectrogram-transformer"
WHISPER = "whisper"
AST_HOP_SECONDS = 0.010
AST_WINDOW_SECONDS = 0.025
"""ASTFeatureExtractor's Kaldi filterbank: 25 ms windows every 10 ms."""
AST_EXTRA_TOKENS = 2
"""AST's [CLS] and distillation tokens, ahead of its patches."""


@dataclass(frozen=True)
class AudioFraming:
    """One model's framing. ``kind`` is ``conv``, ``ast`` or ``whisper``; ``conv`` holds the
    (kernel, stride) of each convolution on the wave; ``hop``/``window`` are in samples;
    ``grid`` is AST's (frequency, time) patch grid and ``time_stride`` its patch stride."""

    kind: str
    sample_rate: int
    dim: int
    layers: int
    conv: tuple[tuple[int, int], ...] = ()
    hop: int = 0
    window: int = 0
    grid: tuple[int, int] = (0, 0)
    time_stride: int = 1
    max_frames: int = 0

    @property
    def frames_per_second(self) -> float:
        if self.kind == "conv":
            return self.sample_rate / math.prod(s for _, s in self.conv)
        if self.kind == "ast":
            return self.sample_rate / (self.hop * self.time_stride)
        return self.sample_rate / (self.hop * 2)

    def frames_for(self, n_samples: int) -> int:
        """Frames a wave of ``n_samples`` gives (what a longer, zero-padded batch row holds
        beyond them is cropped off)."""
        if self.kind == "conv":
            length = n_samples
            for kernel, stride in self.conv:
                length = (length - kernel) // stride + 1 if length >= kernel else 0
            return length
        if self.kind == "ast":
            bank = 1 + (n_samples - self.window) // self.hop if n_samples >= self.window else 0
            return min(self.grid[1], math.ceil(bank / self.time_stride))
        mel = n_samples // self.hop
        return min(self.max_frames, (mel - 1) // 2 + 1) if mel >= 1 else 0


def read_framing(folder: Path, owner: str) -> AudioFraming:
    """The framing of the model saved in ``folder``; one line naming the model type when it
    is none of the known front ends."""
    from transformers import AutoConfig, AutoFeatureExtractor

    config = _read(AutoConfig, folder, owner)
    if config.model_type not in (*CONV_FRONT_ENDS, AST, WHISPER):
        raise AtrBenchError(
            f"{owner}: model type {config.model_type!r} in {folder} has no known framing "
            f"(known: {', '.join(sorted(CONV_FRONT_ENDS))}, {AST}, {WHISPER}); wrap it in an "
            "extractor plugin (docs/writing-plugins.md)"
        )
    features = _read(AutoFeatureExtractor, folder, owner)
    rate = int(features.sampling_rate)
    if config.model_type == AST:
        return _ast(config, rate)
    if config.model_type == WHISPER:
        return AudioFraming(
            "whisper",
            rate,
            config.d_model,
            config.encoder_layers,
            hop=int(features.hop_length),
            max_frames=int(config.max_source_positions),
        )
    conv = tuple(zip(config.conv_kernel, config.conv_stride, strict=True))
    return AudioFraming("conv", rate, config.hidden_size, config.num_hidden_layers, conv)


def _read(auto: Any, folder: Path, owner: str) -> Any:
    """``auto.from_pretrained(folder)`` (a config or a feature extractor), local files only."""
    try:
        return auto.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AtrBenchError(
            f"{owner}: cannot read the model's config or feature extractor in {folder} "
            f"({first[:160]}); save both there with save_pretrained"
        ) from None


def _ast(config: Any, rate: int) -> AudioFraming:
    patch = config.patch_size
    grid = (
        (config.num_mel_bins - patch) // config.frequency_stride + 1,
        (config.max_length - patch) // config.time_stride + 1,
    )
    return AudioFraming(
        "ast",
        rate,
        config.hidden_size,
        config.num_hidden_layers,
        hop=round(rate * AST_HOP_SECONDS),
        window=round(rate * AST_WINDOW_SECONDS),
        grid=grid,
        time_stride=config.time_stride,
    )
