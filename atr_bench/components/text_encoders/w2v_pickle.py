"""The ``w2v`` text encoder: the seed's precomputed GoogleNews word2vec caption features, read
from ``TextEmbeddings/w2v_<split>.pkl`` with the restricted unpickler (never plain pickle)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from atr_bench.components.text_encoders.sizes import GOOGLENEWS_DIM
from atr_bench.data.layout import DatasetLayout
from atr_bench.data.safe_pickle import load_text_pickle
from atr_bench.errors import AtrBenchError

DIM = GOOGLENEWS_DIM


class W2VPickle:
    """Looks up precomputed features; it has no model, so it cannot encode new captions."""

    dim = DIM

    def lookup(self, dataset_dir: Path, split: str) -> dict[str, list[np.ndarray]]:
        """Clip id -> one float32 [n_words, 300] array per caption for ``split``."""
        dataset_dir = Path(dataset_dir)
        layout = DatasetLayout(dataset_dir.parent, dataset_dir.name)
        return load_text_pickle(layout.text_pickle(split))

    def encode(self, captions: Sequence[str]) -> list[np.ndarray]:
        raise AtrBenchError(
            "text encoder 'w2v' only reads the seed's precomputed TextEmbeddings/w2v_<split>.pkl "
            "files and cannot encode new captions; use --text-encoder word2vec instead"
        )
