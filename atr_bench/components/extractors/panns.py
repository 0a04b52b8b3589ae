"""PANNs Cnn14 and Cnn10 (Kong et al. 2020, qiuqiangkong/audioset_tagging_cnn) as frame-level
extractors.

Parameter names and shapes follow the authors' released checkpoints (``Cnn14_mAP=0.431.pth``,
``Cnn10_mAP=0.380.pth``), including the torchlibrosa front end whose STFT is a pair of frozen
Conv1d layers (``spectrogram_extractor.stft.conv_real/conv_imag``) and whose mel filterbank is a
frozen parameter (``logmel_extractor.melW``); both are computed here so an untrained module has
the same keys. The output is the per-frame embedding PANNs computes just before its clip pooling:
conv blocks -> mean over frequency -> max_pool1d + avg_pool1d (kernel 3, stride 1, padding 1)
-> relu(fc1) per frame.
"""

from __future__ import annotations

import librosa
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from atr_bench.components.extractors.framing import PANNS_CNN14

SAMPLE_RATE = PANNS_CNN14.sample_rate
WINDOW = 1024
HOP = PANNS_CNN14.hop
MEL_BINS = 64
FMIN = 50.0
FMAX = 14000.0
AUDIOSET_CLASSES = 527


def _stft_kernels(n_fft: int) -> tuple[np.ndarray, np.ndarray]:
    """Real and imaginary DFT rows times a periodic Hann window: ``[n_fft//2+1, 1, n_fft]``."""
    bins = n_fft // 2 + 1
    window = librosa.filters.get_window("hann", n_fft, fftbins=True)
    phase = 2.0 * np.pi * np.outer(np.arange(bins), np.arange(n_fft)) / n_fft
    real = np.cos(phase) * window[None, :]
    imag = -np.sin(phase) * window[None, :]
    return real[:, None, :].astype(np.float32), imag[:, None, :].astype(np.float32)


class _Stft(nn.Module):
    """STFT as two frozen strided Conv1d layers (torchlibrosa's layout)."""

    def __init__(self, n_fft: int, hop: int) -> None:
        super().__init__()
        bins = n_fft // 2 + 1
        self.conv_real = nn.Conv1d(1, bins, n_fft, stride=hop, bias=False)
        self.conv_imag = nn.Conv1d(1, bins, n_fft, stride=hop, bias=False)
        real, imag = _stft_kernels(n_fft)
        with torch.no_grad():
            self.conv_real.weight.copy_(torch.from_numpy(real))
            self.conv_imag.weight.copy_(torch.from_numpy(imag))
        for p in self.parameters():
            p.requires_grad_(False)


class _Spectrogram(nn.Module):
    """Power spectrogram ``[B, 1, T, F]``, centred frames with reflect padding."""

    def __init__(self, n_fft: int, hop: int) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.stft = _Stft(n_fft, hop)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        half = self.n_fft // 2
        x = F.pad(wave[:, None, :], (half, half), mode="reflect")
        real = self.stft.conv_real(x)
        imag = self.stft.conv_imag(x)
        return (real**2 + imag**2).transpose(1, 2)[:, None]


class _LogMel(nn.Module):
    """Slaney mel filterbank (frozen parameter ``melW`` ``[F, mels]``) and 10*log10 power."""

    def __init__(self) -> None:
        super().__init__()
        mel = librosa.filters.mel(
            sr=SAMPLE_RATE, n_fft=WINDOW, n_mels=MEL_BINS, fmin=FMIN, fmax=FMAX
        ).T
        self.melW = nn.Parameter(torch.from_numpy(mel.astype(np.float32)), requires_grad=False)

    def forward(self, power: torch.Tensor) -> torch.Tensor:
        return 10.0 * torch.log10(torch.clamp(power @ self.melW, min=1e-10))


class ConvBlock(nn.Module):
    """Two 3x3 conv + BN + ReLU layers followed by 2x2 (or no) average pooling."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor, pool: tuple[int, int]) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return F.avg_pool2d(x, pool) if pool != (1, 1) else x


class PannsCnn(nn.Module):
    """A PANNs CNN (Cnn14: 6 blocks up to 2048 channels; Cnn10: 4 blocks up to 512) mapping a
    32 kHz wave ``[B, N]`` to frame embeddings ``[B, T, dim]``."""

    sample_rate = SAMPLE_RATE

    def __init__(self, channels: tuple[int, ...], pools: tuple[tuple[int, int], ...]) -> None:
        super().__init__()
        self.spectrogram_extractor = _Spectrogram(WINDOW, HOP)
        self.logmel_extractor = _LogMel()
        self.bn0 = nn.BatchNorm2d(MEL_BINS)
        ins = (1, *channels[:-1])
        for i, (cin, cout) in enumerate(zip(ins, channels, strict=True), start=1):
            self.add_module(f"conv_block{i}", ConvBlock(cin, cout))
        self.pools = pools
        self.dim = channels[-1]
        self.fc1 = nn.Linear(self.dim, self.dim)
        self.fc_audioset = nn.Linear(self.dim, AUDIOSET_CLASSES)
        self.time_stride = int(np.prod([p[0] for p in pools]))
        self.frames_per_second = SAMPLE_RATE / HOP / self.time_stride

    def frames_for(self, n_samples: int) -> int:
        """Frames produced for a wave of ``n_samples``: centred STFT frames, then each 2x2
        pooling halves (floor) the time axis."""
        return (1 + n_samples // HOP) // self.time_stride

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        x = self.logmel_extractor(self.spectrogram_extractor(wave))  # [B, 1, T, mels]
        x = self.bn0(x.transpose(1, 3)).transpose(1, 3)
        for i, pool in enumerate(self.pools, start=1):
            x = getattr(self, f"conv_block{i}")(x, pool)
        x = x.mean(dim=3)  # [B, C, T]
        x = F.max_pool1d(x, 3, stride=1, padding=1) + F.avg_pool1d(x, 3, stride=1, padding=1)
        return F.relu(self.fc1(x.transpose(1, 2)))


def cnn14() -> PannsCnn:
    """PANNs Cnn14: 2048-d frames, 32x time reduction (31 frames per 10 s)."""
    return PannsCnn((64, 128, 256, 512, 1024, 2048), ((2, 2),) * 5 + ((1, 1),))


def cnn10() -> PannsCnn:
    """PANNs Cnn10: 512-d frames, 16x time reduction (62 frames per 10 s)."""
    return PannsCnn((64, 128, 256, 512), ((2, 2),) * 4)
