"""Feature files as atr-bench writes them (plain float32 clips), for the tests that read them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from atr_bench.data.feature_store import FeatureWriter


def plain_features(path: Path, lengths: Sequence[int], dim: int, seed: int = 0) -> Path:
    """Clip ``c{i}``: ``lengths[i]`` frames of ``dim`` standard normal values (seeded)."""
    rng = np.random.default_rng(seed)
    with FeatureWriter(path) as writer:
        for i, frames in enumerate(lengths):
            writer.write(f"c{i}", rng.standard_normal((frames, dim)).astype(np.float32))
    return path
