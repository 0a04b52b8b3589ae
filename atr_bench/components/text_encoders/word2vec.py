"""The ``word2vec`` text encoder: a skip-gram word2vec model trained on the training captions.

Training is deterministic: one worker thread and a seeded generator (gensim 4 draws the initial
vectors from numpy's generator seeded with ``seed``, not from Python's salted ``hash``, so
``PYTHONHASHSEED`` does not change the result; ``tests/test_text_encoders.py`` checks both).
The trained vectors are cached as ``<cache_dir>/word2vec-<tag>.model`` in the C word2vec binary
format (read without pickle), written atomically; ``tag`` hashes the corpus, the options and
the gensim version, so a different corpus or configuration never reuses a stale model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import gensim
import numpy as np
from gensim.models import KeyedVectors, Word2Vec

from atr_bench.components.text_encoders.sizes import WORD2VEC_DIM
from atr_bench.components.text_encoders.tokenize import tokenize
from atr_bench.errors import AtrBenchError
from atr_bench.files.atomic import atomic_write

DIM = WORD2VEC_DIM
_FORMAT = 1
"""Bump when the cached file's meaning changes, so old caches are not reused."""


class Word2VecEncoder:
    """Fit on training captions with ``fit``, then ``encode`` any captions token by token
    (words not seen in training are dropped)."""

    dim = DIM

    def __init__(self, epochs: int = 30, window: int = 5, min_count: int = 1, seed: int = 0):
        for name, value in (("epochs", epochs), ("window", window), ("min_count", min_count)):
            if value < 1:
                raise AtrBenchError(f"text encoder 'word2vec': option {name}={value} must be >= 1")
        self.options = {"epochs": epochs, "window": window, "min_count": min_count, "seed": seed}
        self._vectors: KeyedVectors | None = None
        self._tag = ""

    @property
    def cache_tag(self) -> str:
        """Short hash of the training corpus, options and gensim version."""
        self._require_fit()
        return self._tag

    def fit(self, captions: Sequence[str], cache_dir: Path) -> None:
        """Train on ``captions`` (the training split's), or load the cached model for them."""
        key = {"corpus": list(captions), "options": self.options, "gensim": gensim.__version__}
        key["format"] = _FORMAT
        blob = json.dumps(key, sort_keys=True, ensure_ascii=False).encode()
        self._tag = hashlib.sha256(blob).hexdigest()[:12]
        path = Path(cache_dir) / f"word2vec-{self._tag}.model"
        if path.exists():
            self._vectors = _load(path)
            return
        vectors = self._train([tokenize(c) for c in captions])
        atomic_write(path, lambda tmp: vectors.save_word2vec_format(str(tmp), binary=True))
        self._vectors = vectors

    def _train(self, sentences: list[list[str]]) -> KeyedVectors:
        model = Word2Vec(
            vector_size=DIM,
            sg=1,
            workers=1,
            window=self.options["window"],
            min_count=self.options["min_count"],
            seed=self.options["seed"],
        )
        model.build_vocab(sentences)
        if len(model.wv) == 0:
            raise AtrBenchError(
                f"text encoder 'word2vec': no word of the {len(sentences)} training captions "
                f"occurs min_count={self.options['min_count']} times; lower min_count"
            )
        model.train(sentences, total_examples=len(sentences), epochs=self.options["epochs"])
        return model.wv

    def encode(self, captions: Sequence[str]) -> list[np.ndarray]:
        """One float32 [n_known_tokens, 300] array per caption."""
        vectors = self._require_fit()
        index = vectors.key_to_index
        out = []
        for caption in captions:
            ids = [index[t] for t in tokenize(caption) if t in index]
            out.append(np.array(vectors.vectors[ids], dtype=np.float32).reshape(len(ids), DIM))
        return out

    def _require_fit(self) -> KeyedVectors:
        if self._vectors is None:
            raise AtrBenchError(
                "text encoder 'word2vec' is not fitted: call fit(training captions, cache_dir) "
                "before encode"
            )
        return self._vectors


def _check_header(path: Path) -> None:
    """The binary format's header ``<words> <dim>`` must fit the file: each vector takes at
    least ``4 * dim + 2`` bytes (a one-letter word, a space, the floats), so a hostile or
    corrupt count cannot make the loader allocate without bound."""
    with open(path, "rb") as handle:
        header = handle.readline(100).split()
    try:
        words, dim = (int(v) for v in header)
    except ValueError:
        raise AtrBenchError(
            f"{path}: not a word2vec cache (no '<words> <dim>' header); delete it to train the "
            "model again"
        ) from None
    if words < 0 or dim < 1 or words * (4 * dim + 2) > path.stat().st_size:
        raise AtrBenchError(
            f"{path}: its header claims {words} x {dim} vectors, more than the file holds; "
            "delete it to train the model again"
        )


def _load(path: Path) -> KeyedVectors:
    _check_header(path)
    try:
        vectors = KeyedVectors.load_word2vec_format(str(path), binary=True)
    except (OSError, ValueError, EOFError, UnicodeDecodeError) as exc:
        raise AtrBenchError(
            f"{path}: unreadable word2vec cache ({exc}); delete it to train the model again"
        ) from None
    if vectors.vector_size != DIM or len(vectors) == 0:
        raise AtrBenchError(
            f"{path}: word2vec cache holds {len(vectors)} x {vectors.vector_size} vectors, "
            f"expected [words, {DIM}]; delete it to train the model again"
        )
    return vectors
