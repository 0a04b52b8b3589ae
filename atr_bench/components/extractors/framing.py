"""How each built-in extractor frames audio: what its spec declares before it is built.

Free of torch and librosa, so the registry loads without them; the networks take their sample
rates, hops and sizes from here, so spec and network cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Framing:
    """Audio at ``sample_rate`` Hz, analysed every ``hop`` samples; ``stride`` hops make one
    output frame of ``dim`` features."""

    sample_rate: int
    hop: int
    stride: int
    dim: int

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop / self.stride


LMS = Framing(sample_rate=16000, hop=160, stride=10, dim=128)
"""128 mel bands; 10 STFT frames averaged into one output frame (10 per second)."""
PANNS_CNN10 = Framing(sample_rate=32000, hop=320, stride=16, dim=512)
PANNS_CNN14 = Framing(sample_rate=32000, hop=320, stride=32, dim=2048)
"""Both PANNs networks share the front end; their poolings reduce time 16x and 32x."""
VGGISH = Framing(sample_rate=16000, hop=160, stride=96, dim=128)
"""One 128-d embedding per 0.96 s example of 96 frames."""
VGGSOUND = Framing(sample_rate=16000, hop=512 - 353, stride=32, dim=512)
"""``scipy.signal.spectrogram(nperseg=512, noverlap=353)``: a hop of 159 samples."""
EFFICIENT_LATENT = Framing(sample_rate=16000, hop=160, stride=32, dim=1408)
