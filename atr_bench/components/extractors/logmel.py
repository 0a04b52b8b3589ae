"""The paper's ``lms`` baseline: log-mel spectrogram frames, mean-pooled to 10 frames per second.

16 kHz audio, 512-point STFT with a hop of 160 samples (100 frames/s), power spectrum, 128 mel
bands as the paper's code expects (librosa's Slaney filterbank, 50 Hz to 8 kHz),
``log(mel + 1e-6)``, then the mean of each block of 10 STFT frames. The STFT is centred with
zero padding, so a wave zero-padded inside a batch gives exactly the frames it gives alone; a
trailing partial block is dropped, and a wave shorter than one block is zero-padded to one block
so every clip has at least one frame.
"""

from __future__ import annotations

import librosa
import torch
from torch import nn

from atr_bench.components.extractors.framing import LMS

SAMPLE_RATE = LMS.sample_rate
N_FFT = 512
HOP = LMS.hop
N_MELS = LMS.dim
FMIN = 50.0
FMAX = 8000.0
BLOCK = LMS.stride
"""STFT frames averaged into one output frame: 100 STFT frames/s -> 10 frames/s."""
EPS = 1e-6
MIN_SAMPLES = (BLOCK - 1) * HOP
"""Shortest wave giving one full block; shorter waves are zero-padded to it."""


class LogMel(nn.Module):
    """Batched log-mel extractor: ``wave [B, N] -> [B, frames_for(N), 128]``; no learned
    parameters (the filterbank and window are buffers, so ``.to(device)`` moves them)."""

    sample_rate = SAMPLE_RATE
    dim = N_MELS
    frames_per_second = LMS.frames_per_second
    mel_basis: torch.Tensor
    window: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        mel = librosa.filters.mel(
            sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=FMIN, fmax=FMAX
        )  # [mels, bins]
        self.register_buffer("mel_basis", torch.from_numpy(mel.T.copy()).float(), persistent=False)
        self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)

    @staticmethod
    def frames_for(n_samples: int) -> int:
        """Output frames for a wave of ``n_samples`` samples (>= 1 for any length)."""
        stft_frames = 1 + max(int(n_samples), MIN_SAMPLES) // HOP
        return stft_frames // BLOCK

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        if wave.ndim != 2:
            raise ValueError(
                f"LogMel expects a batch of waves [B, N], got shape {tuple(wave.shape)}"
            )
        wave = wave.to(self.window.dtype)
        if wave.shape[1] < MIN_SAMPLES:
            wave = nn.functional.pad(wave, (0, MIN_SAMPLES - wave.shape[1]))
        spec = torch.stft(
            wave,
            n_fft=N_FFT,
            hop_length=HOP,
            window=self.window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )  # [B, bins, F]
        power = spec.real.square() + spec.imag.square()
        logmel = torch.log(power.transpose(1, 2) @ self.mel_basis + EPS)  # [B, F, mels]
        frames = logmel.shape[1] // BLOCK
        blocks = logmel[:, : frames * BLOCK].reshape(wave.shape[0], frames, BLOCK, N_MELS)
        return blocks.mean(dim=2)
