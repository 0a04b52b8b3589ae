"""The VGGSound audio ResNet-18 (Chen et al. 2020, hche11/VGGSound) as a frame-level extractor.

Parameter names match the released average-pool model ``H.pth.tar`` (``{"model_state_dict":
...}`` saved from ``AVENet``, so every key starts with ``audnet.``; the 309-way ``audnet.fc``
classifier is kept so the file loads strictly, and is not used).

Front end, as the repository's data loader: 16 kHz audio clipped to [-1, 1];
``scipy.signal.spectrogram(nperseg=512, noverlap=353)`` (hop 159 samples, periodic Tukey(0.25)
window, per-segment mean removed, one-sided PSD density scaling); ``log(psd + 1e-7)``;
normalised by the mean and standard deviation of the whole clip's spectrogram. The network sees
it as an image ``[B, 1, 257 freq, T time]``.

Frames: the time axis of ``layer4`` (before the global average pool), averaged over its 9
frequency rows, gives 512-d frames. conv1, the max pool and layers 2-4 each halve the time axis
(ceil), so a clip of ``T`` spectrogram frames gives ``ceil(T / 32)`` frames, 16000 / 159 / 32 =
3.14 per second: 32 frames for exactly 10 s (1004 spectrogram frames) and 95 for 30 s (the
Clotho protocol's 95). The AudioCaps protocol length 29 corresponds to 9.1-9.3 s of audio and is
applied by padding/cropping in the data layer, not by this network. (The official loader also
tiles clips shorter than 10 s by repetition; that is a dataset step and is not done here.)
"""

from __future__ import annotations

import torch
from scipy.signal import get_window
from torch import nn

from atr_bench.components.extractors.framing import VGGSOUND

SAMPLE_RATE = VGGSOUND.sample_rate
NPERSEG = 512
HOP = VGGSOUND.hop
TIME_STRIDE = VGGSOUND.stride
VGGSOUND_CLASSES = 309
DIM = VGGSOUND.dim


class BasicBlock(nn.Module):
    """torchvision-style ResNet basic block (two 3x3 convs, optional 1x1 downsample)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class AudioResNet18(nn.Module):
    """ResNet-18 with a 1-channel 7x7 stem, as ``models/resnet.py`` with ``pool="avgpool"``."""

    layer1: nn.Sequential  # added by name in __init__, as the released state dict names them
    layer2: nn.Sequential
    layer3: nn.Sequential
    layer4: nn.Sequential

    def __init__(self, num_classes: int = VGGSOUND_CLASSES) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        widths = (64, 128, 256, 512)
        cin = 64
        for i, width in enumerate(widths, start=1):
            stride = 1 if i == 1 else 2
            self.add_module(
                f"layer{i}",
                nn.Sequential(BasicBlock(cin, width, stride), BasicBlock(width, width, 1)),
            )
            cin = width
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 1, F, T]`` -> ``layer4`` output ``[B, 512, F/32, T/32]`` (before pooling)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class VGGSound(nn.Module):
    """VGGSound ResNet-18: 16 kHz wave ``[B, N]`` -> ``[B, T, 512]`` layer4 frames."""

    sample_rate = SAMPLE_RATE
    dim = DIM
    frames_per_second = VGGSOUND.frames_per_second
    window: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.audnet = AudioResNet18()
        window = get_window(("tukey", 0.25), NPERSEG)  # periodic, as scipy.signal.spectrogram
        self.register_buffer("window", torch.tensor(window, dtype=torch.float32), False)
        self.psd_scale = 1.0 / (SAMPLE_RATE * float((window**2).sum()))

    @staticmethod
    def spectrogram_frames(n_samples: int) -> int:
        """Spectrogram frames for ``n_samples`` (scipy drops the incomplete last segment)."""
        return 1 + (n_samples - NPERSEG) // HOP if n_samples >= NPERSEG else 0

    def frames_for(self, n_samples: int) -> int:
        """Output frames: ``ceil(spectrogram frames / 32)``."""
        return -(-self.spectrogram_frames(n_samples) // TIME_STRIDE)

    def log_spectrogram(self, wave: torch.Tensor) -> torch.Tensor:
        """``[B, N]`` -> normalised log power spectrogram ``[B, 257, T]`` as the official loader."""
        if self.spectrogram_frames(wave.shape[-1]) == 0:
            raise ValueError(f"VGGSound needs at least {NPERSEG} samples, got {wave.shape[-1]}")
        segments = wave.clamp(-1.0, 1.0).unfold(-1, NPERSEG, HOP)
        segments = segments - segments.mean(dim=-1, keepdim=True)
        psd = torch.fft.rfft(segments * self.window).abs() ** 2 * self.psd_scale
        psd[..., 1:-1] *= 2.0  # one-sided: double all but DC and Nyquist
        spec = torch.log(psd + 1e-7).transpose(1, 2)
        mean = spec.mean(dim=(1, 2), keepdim=True)
        std = spec.std(dim=(1, 2), keepdim=True, correction=0)
        return (spec - mean) / (std + 1e-9)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        fmap = self.audnet.feature_map(self.log_spectrogram(wave)[:, None])
        return fmap.mean(dim=2).transpose(1, 2)
