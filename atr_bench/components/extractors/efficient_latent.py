"""The HEAR 2021 ``efficient_latent`` model (Dinkel et al., RicherMans/HEAR2021_EfficientLatent)
as a frame-level extractor.

The submission is an EfficientNet-B2 (the ``efficientnet_pytorch`` 0.7.1 implementation, no
classifier head, stem changed to 1 input channel) on a torchaudio log-mel front end: 16 kHz,
512-point STFT with a periodic Hann window, hop 160 (10 ms), centred with reflect padding, 64
HTK mel bands from 0 Hz to 8 kHz, power in dB clamped to 120 dB below the maximum. Its
latent frames are the B2 feature map (1408 channels after the head conv) averaged over
frequency: 32x time reduction, 32 frames per 10 s (the protocol's 32 on AudioCaps).

Parameter and buffer names match the released state dict ``effb2.pt`` (loaded there with
``strict=True``), including the front end's ``front_end.0.spectrogram.window`` and
``front_end.0.mel_scale.fb`` buffers. EfficientNet's "same" padding is static, computed for the
260x260 image size of B2 as ``efficientnet_pytorch`` does (so stride-2 layers pad asymmetrically
whatever the input size); it is reproduced here because it fixes the output length.
Drop-connect (training only) is not implemented: this module is an inference extractor.
"""

from __future__ import annotations

import math

import librosa
import torch
import torch.nn.functional as F
from torch import nn

from atr_bench.components.extractors.framing import EFFICIENT_LATENT

SAMPLE_RATE = EFFICIENT_LATENT.sample_rate
N_FFT = 512
HOP = EFFICIENT_LATENT.hop
MEL_BINS = 64
TOP_DB = 120.0
DIM = EFFICIENT_LATENT.dim
IMAGE_SIZE = 260  # EfficientNet-B2's nominal resolution, used for the static padding
WIDTH, DEPTH = 1.1, 1.2  # B2 width and depth multipliers
BN_MOMENTUM, BN_EPS = 0.01, 1e-3
TIME_STRIDE = EFFICIENT_LATENT.stride

# EfficientNet-B0 stages: (repeats, kernel, stride, expand ratio, in channels, out channels)
_B0_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
SE_RATIO = 0.25


def round_filters(filters: int) -> int:
    """Scale a channel count by the width multiplier, rounded to a multiple of 8 (not below
    90% of the scaled value), as EfficientNet does."""
    scaled = filters * WIDTH
    rounded = max(8, int(scaled + 4) // 8 * 8)
    return int(rounded + 8 if rounded < 0.9 * scaled else rounded)


def round_repeats(repeats: int) -> int:
    """Scale a stage's block count by the depth multiplier (ceil)."""
    return math.ceil(DEPTH * repeats)


def _same_pad(image: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "same" padding (before, after) for a square image of side ``image``."""
    total = max((math.ceil(image / stride) - 1) * stride + kernel - image, 0)
    return total // 2, total - total // 2


class StaticSameConv2d(nn.Conv2d):
    """Conv2d with "same" zero padding fixed at construction for a nominal image size."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, image: int, **kw) -> None:
        super().__init__(cin, cout, kernel, stride=stride, bias=kw.pop("bias", False), **kw)
        before, after = _same_pad(image, kernel, stride)
        self.pad = (before, after, before, after)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, self.pad) if any(self.pad) else x)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, momentum=BN_MOMENTUM, eps=BN_EPS)


class MBConv(nn.Module):
    """Mobile inverted bottleneck: 1x1 expand, depthwise conv, squeeze-excite, 1x1 project,
    residual when shape is kept."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int, image: int):
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = StaticSameConv2d(cin, mid, 1, 1, image)
            self._bn0 = _bn(mid)
        self._depthwise_conv = StaticSameConv2d(mid, mid, kernel, stride, image, groups=mid)
        self._bn1 = _bn(mid)
        squeezed = max(1, int(cin * SE_RATIO))
        self._se_reduce = nn.Conv2d(mid, squeezed, 1)
        self._se_expand = nn.Conv2d(squeezed, mid, 1)
        self._project_conv = StaticSameConv2d(mid, cout, 1, 1, math.ceil(image / stride))
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs
        if hasattr(self, "_expand_conv"):
            x = F.silu(self._bn0(self._expand_conv(x)))
        x = F.silu(self._bn1(self._depthwise_conv(x)))
        gate = self._se_expand(F.silu(self._se_reduce(x.mean(dim=(2, 3), keepdim=True))))
        x = self._bn2(self._project_conv(torch.sigmoid(gate) * x))
        return x + inputs if self.residual else x


class _MelSpectrogram(nn.Module):
    """Power mel spectrogram ``[B, mels, T]`` with torchaudio's buffer names (``spectrogram.
    window``, ``mel_scale.fb``) so the released state dict loads."""

    def __init__(self) -> None:
        super().__init__()
        self.spectrogram = nn.Module()
        self.spectrogram.register_buffer("window", torch.hann_window(N_FFT))
        self.mel_scale = nn.Module()
        fb = librosa.filters.mel(
            sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=MEL_BINS, fmin=0.0, fmax=SAMPLE_RATE / 2,
            htk=True, norm=None,
        )  # fmt: skip
        self.mel_scale.register_buffer("fb", torch.tensor(fb.T, dtype=torch.float32))

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        window, fb = self.spectrogram.get_buffer("window"), self.mel_scale.get_buffer("fb")
        spec = torch.stft(
            wave, N_FFT, HOP, window=window, center=True,
            pad_mode="reflect", return_complex=True,
        ).abs() ** 2  # fmt: skip
        return (spec.transpose(1, 2) @ fb).transpose(1, 2)


class _PowerToDb(nn.Module):
    """10*log10 power, floored at 1e-10 and at ``top_db`` below each clip's maximum.

    torchaudio's AmplitudeToDB takes that maximum over the whole batch for a ``[B, F, T]``
    input; per clip is what the submission computes for one clip at a time, and keeps a clip's
    features independent of its batch."""

    def forward(self, power: torch.Tensor) -> torch.Tensor:
        db = 10.0 * torch.log10(power.clamp(min=1e-10))
        floor = db.amax(dim=(1, 2), keepdim=True) - TOP_DB
        return torch.maximum(db, floor)


class EfficientLatent(nn.Module):
    """HEAR 2021 efficient_latent: 16 kHz wave ``[B, N]`` -> ``[B, T, 1408]`` latent frames."""

    sample_rate = SAMPLE_RATE
    dim = DIM
    frames_per_second = EFFICIENT_LATENT.frames_per_second

    def __init__(self) -> None:
        super().__init__()
        self.front_end = nn.Sequential(_MelSpectrogram(), _PowerToDb())
        stem = round_filters(32)
        self._conv_stem = StaticSameConv2d(1, stem, 3, 2, IMAGE_SIZE)
        self._bn0 = _bn(stem)
        image = math.ceil(IMAGE_SIZE / 2)
        blocks: list[MBConv] = []
        self._time_layers: list[tuple[int, int, int, int]] = [(3, 2, *_same_pad(IMAGE_SIZE, 3, 2))]
        for repeats, kernel, stride, expand, cin, cout in _B0_STAGES:
            cin, cout = round_filters(cin), round_filters(cout)
            for i in range(round_repeats(repeats)):
                s = stride if i == 0 else 1
                blocks.append(MBConv(cin if i == 0 else cout, cout, kernel, s, expand, image))
                if s == 2:
                    self._time_layers.append((kernel, s, *_same_pad(image, kernel, s)))
                image = math.ceil(image / s)
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = StaticSameConv2d(round_filters(320), round_filters(1280), 1, 1, image)
        self._bn1 = _bn(round_filters(1280))

    def frames_for(self, n_samples: int) -> int:
        """Output frames: centred STFT frames through each strided (statically padded) layer."""
        t = 1 + n_samples // HOP
        for kernel, stride, before, after in self._time_layers:
            t = (t + before + after - kernel) // stride + 1
        return t

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        x = self.front_end(wave)[:, None]  # [B, 1, mels, T]
        x = F.silu(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.silu(self._bn1(self._conv_head(x)))
        return x.mean(dim=2).transpose(1, 2)
