"""The input shapes of the pooling throughput suite, apart from torch so that ``atr-bench bench
--help`` lists them without loading it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shape:
    """One input shape ``[batch, frames, dim]``; ``side`` picks the pooling's audio or text
    defaults (VLAD uses 12 clusters on audio, 20 on text); ``paper`` marks the paper's shapes."""

    name: str
    batch: int
    frames: int
    dim: int
    side: str
    paper: bool
    note: str


SHAPES = (
    Shape("audiocaps", 128, 31, 2048, "audio", True, "panns_cnn14 on AudioCaps"),
    Shape("clotho", 128, 90, 2048, "audio", True, "panns_cnn14 on Clotho"),
    Shape("text", 128, 20, 300, "text", True, "20 word2vec tokens"),
    Shape("large", 512, 31, 2048, "audio", False, "4x the AudioCaps batch"),
)
