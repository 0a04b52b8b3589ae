"""VGGish (Hershey et al. 2017) as in the torchvggish port (harritaylor/torchvggish).

The network's parameter names match ``vggish-10086976.pth`` (``features.*`` conv layers and
``embeddings.*`` fully connected layers). The front end reproduces the reference
``vggish_input``: 16 kHz, 25 ms periodic-Hann frames every 10 ms (no padding), 512-point FFT
magnitude, a 64-band HTK mel matrix over 125-7500 Hz, ``log(mel + 0.01)``, cut into
non-overlapping 96-frame (0.96 s) examples; each example gives one 128-d frame.

The optional PCA/whitening + 8-bit quantisation post-processor of the released AudioSet
embeddings lives in a separate torchvggish file (``vggish_pca_params-970ea276.pth``), not in the
network checkpoint, so it is kept out of the state dict (non-persistent buffers) and applied only
when those parameters are loaded with ``load_pca``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from atr_bench.components.extractors.framing import VGGISH

SAMPLE_RATE = VGGISH.sample_rate
WINDOW = 400  # 25 ms
HOP = VGGISH.hop  # 10 ms
FFT = 512
MEL_BINS = 64
FMIN = 125.0
FMAX = 7500.0
LOG_OFFSET = 0.01
EXAMPLE_FRAMES = VGGISH.stride  # 0.96 s
EMBEDDING = VGGISH.dim
QUANTIZE_MIN = -2.0
QUANTIZE_MAX = 2.0


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 1127.0 * np.log(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_matrix() -> np.ndarray:
    """The reference VGGish mel matrix ``[FFT//2+1, MEL_BINS]``: triangles equally spaced on the
    HTK mel scale between FMIN and FMAX, evaluated at the FFT bin centres, DC bin zeroed."""
    bins_mel = _hz_to_mel(np.linspace(0.0, SAMPLE_RATE / 2, FFT // 2 + 1))
    edges = np.linspace(_hz_to_mel(FMIN), _hz_to_mel(FMAX), MEL_BINS + 2)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins_mel[:, None] - lower) / (centre - lower)
    falling = (upper - bins_mel[:, None]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0, :] = 0.0
    return weights


class VGGish(nn.Module):
    """VGGish: 16 kHz wave ``[B, N]`` -> one 128-d embedding per 0.96 s example ``[B, T, 128]``."""

    sample_rate = SAMPLE_RATE
    dim = EMBEDDING
    frames_per_second = VGGISH.frames_per_second
    window: torch.Tensor
    mel: torch.Tensor
    pca_matrix: torch.Tensor
    pca_means: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for v in (64, "M", 128, "M", 256, 256, "M", 512, 512, "M"):
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, int(v), 3, padding=1), nn.ReLU(inplace=True)]
                channels = int(v)
        self.features = nn.Sequential(*layers)
        self.embeddings = nn.Sequential(
            nn.Linear(512 * 4 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, EMBEDDING),
            nn.ReLU(inplace=True),
        )
        window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WINDOW) / WINDOW)  # periodic Hann
        self.register_buffer("window", torch.tensor(window, dtype=torch.float32), False)
        self.register_buffer("mel", torch.tensor(mel_matrix(), dtype=torch.float32), False)
        self.register_buffer("pca_matrix", torch.empty(0), False)
        self.register_buffer("pca_means", torch.empty(0), False)

    @property
    def postprocess(self) -> bool:
        """Whether the PCA + quantisation post-processor is loaded (and applied)."""
        return self.pca_matrix.numel() > 0

    def load_pca(self, params: Mapping[str, torch.Tensor | np.ndarray]) -> None:
        """Install torchvggish's PCA parameters (``pca_eigen_vectors`` [128, 128],
        ``pca_means`` [128]); from then on outputs are the quantised AudioSet-style embeddings."""
        matrix = torch.as_tensor(np.asarray(params["pca_eigen_vectors"]), dtype=torch.float32)
        means = torch.as_tensor(np.asarray(params["pca_means"]), dtype=torch.float32)
        if matrix.shape != (EMBEDDING, EMBEDDING) or means.numel() != EMBEDDING:
            raise ValueError(
                f"bad VGGish PCA shapes {tuple(matrix.shape)} and {tuple(means.shape)}"
            )
        device = self.mel.device
        self.pca_matrix = matrix.to(device)
        self.pca_means = means.reshape(EMBEDDING).to(device)

    def frames_for(self, n_samples: int) -> int:
        """Examples produced for ``n_samples``: unpadded STFT frames, then whole 96-frame
        examples (a wave shorter than 0.975 s gives none)."""
        stft_frames = 1 + (n_samples - WINDOW) // HOP if n_samples >= WINDOW else 0
        return stft_frames // EXAMPLE_FRAMES

    def log_mel_examples(self, wave: torch.Tensor) -> torch.Tensor:
        """``[B, N]`` -> ``[B, T, 96, 64]`` log-mel examples, as the reference front end."""
        n_examples = self.frames_for(wave.shape[-1])
        if n_examples == 0:
            return wave.new_zeros(wave.shape[0], 0, EXAMPLE_FRAMES, MEL_BINS)
        frames = wave.unfold(-1, WINDOW, HOP)[:, : n_examples * EXAMPLE_FRAMES]
        magnitude = torch.fft.rfft(frames * self.window, n=FFT).abs()
        log_mel = torch.log(magnitude @ self.mel + LOG_OFFSET)
        return log_mel.reshape(wave.shape[0], n_examples, EXAMPLE_FRAMES, MEL_BINS)

    def embed(self, examples: torch.Tensor) -> torch.Tensor:
        """``[M, 96, 64]`` examples -> ``[M, 128]`` raw embeddings (channel-last flatten, as the
        TensorFlow original and its port)."""
        x = self.features(examples[:, None])  # [M, 512, 6, 4]
        return self.embeddings(x.permute(0, 2, 3, 1).flatten(1))

    def quantise(self, emb: torch.Tensor) -> torch.Tensor:
        """PCA (with whitening) then 8-bit quantisation to [0, 255], as the released embeddings."""
        pca = (emb - self.pca_means) @ self.pca_matrix.T
        clipped = pca.clamp(QUANTIZE_MIN, QUANTIZE_MAX)
        return torch.round((clipped - QUANTIZE_MIN) * (255.0 / (QUANTIZE_MAX - QUANTIZE_MIN)))

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        examples = self.log_mel_examples(wave)
        batch, n = examples.shape[:2]
        if n == 0:
            return wave.new_zeros(batch, 0, EMBEDDING)
        emb = self.embed(examples.flatten(0, 1))
        if self.postprocess:
            emb = self.quantise(emb)
        return emb.reshape(batch, n, EMBEDDING)
