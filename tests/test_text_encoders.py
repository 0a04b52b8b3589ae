"""Text encoders: tokenisation, word2vec determinism and model cache, w2v pickle lookup."""

from __future__ import annotations

import hashlib
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from atr_bench.components.text_encoders import word2vec
from atr_bench.components.text_encoders.plugin import atr_bench_text_encoders
from atr_bench.components.text_encoders.tokenize import tokenize
from atr_bench.components.text_encoders.w2v_pickle import W2VPickle
from atr_bench.components.text_encoders.word2vec import Word2VecEncoder
from atr_bench.errors import AtrBenchError

SPECS = {spec.name: spec for spec in atr_bench_text_encoders()}
CORPUS = [
    f"A {a} {s}, then a {b} {t}"
    for a, s in (("loud", "beep"), ("quiet", "hiss"), ("low", "hum"), ("high", "whistle"))
    for b, t in (("fast", "click"), ("slow", "siren"), ("short", "burst"))
] * 3
FAST = {"epochs": 3}


def _digest(arrays: list[np.ndarray]) -> str:
    return hashlib.sha256(b"".join(a.tobytes() for a in arrays)).hexdigest()


def _fitted(cache_dir: Path) -> Word2VecEncoder:
    encoder = Word2VecEncoder(**FAST)
    encoder.fit(CORPUS, cache_dir)
    return encoder


def test_tokenize() -> None:
    assert tokenize("A dog's bark, then RAIN!") == ["a", "dog's", "bark", "then", "rain"]
    assert tokenize("Don’t stop 'til 10pm -- ok_go") == ["don't", "stop", "til", "10pm", "ok", "go"]
    assert tokenize("  ...  ") == []


def test_specs() -> None:
    assert SPECS["word2vec"].dim == SPECS["w2v"].dim == 300
    assert SPECS["word2vec"].resolve_options() == {
        "epochs": 30,
        "window": 5,
        "min_count": 1,
        "seed": 0,
    }
    with pytest.raises(AtrBenchError, match="valid options: epochs, min_count, seed, window"):
        SPECS["word2vec"].resolve_options({"size": "3"})
    with pytest.raises(AtrBenchError, match="epochs=0 must be >= 1"):
        SPECS["word2vec"].build(epochs=0)


def test_word2vec_is_deterministic_and_drops_unknown_words(tmp_path: Path) -> None:
    first, second = Word2VecEncoder(**FAST), Word2VecEncoder(**FAST)
    first.fit(CORPUS, tmp_path / "a")
    second.fit(CORPUS, tmp_path / "b")
    captions = ["a loud beep then a slow siren", "zebra quagga", "", "Loud BEEP!"]
    out = first.encode(captions)
    assert [a.shape for a in out] == [(7, 300), (0, 300), (0, 300), (2, 300)]
    assert all(a.dtype == np.float32 for a in out)
    np.testing.assert_array_equal(out[3], out[0][1:3])  # same words, same vectors
    assert _digest(second.encode(captions)) == _digest(out)
    assert first.cache_tag == second.cache_tag
    other = Word2VecEncoder(epochs=3, seed=1)
    other.fit(CORPUS, tmp_path / "a")
    assert other.cache_tag != first.cache_tag
    assert _digest(other.encode(captions)) != _digest(out)


def test_word2vec_reuses_its_cached_model(tmp_path: Path, monkeypatch) -> None:
    first = Word2VecEncoder(**FAST)
    first.fit(CORPUS, tmp_path)
    (cached,) = tmp_path.glob("word2vec-*.model")
    assert cached.name == f"word2vec-{first.cache_tag}.model"
    assert [p.name for p in tmp_path.iterdir()] == [cached.name]  # no temp file left behind

    def no_training(*args, **kwargs):
        raise AssertionError("trained again instead of loading the cache")

    monkeypatch.setattr(word2vec, "Word2Vec", no_training)
    again = Word2VecEncoder(**FAST)
    again.fit(CORPUS, tmp_path)
    assert again.cache_tag == first.cache_tag
    np.testing.assert_array_equal(again.encode(CORPUS)[0], first.encode(CORPUS)[0])
    with pytest.raises(AssertionError, match="trained again"):
        Word2VecEncoder(**FAST).fit(CORPUS[:-1], tmp_path)  # another corpus: another model

    cached.write_bytes(b"garbage")
    with pytest.raises(AtrBenchError, match="delete it to train the model again"):
        Word2VecEncoder(**FAST).fit(CORPUS, tmp_path)
    cached.write_bytes(b"10000000000 300\n" + b"x" * 1000)  # a header no file could back
    with pytest.raises(AtrBenchError, match="claims 10000000000 x 300 vectors"):
        Word2VecEncoder(**FAST).fit(CORPUS, tmp_path)


def test_word2vec_does_not_depend_on_python_hash_seed(tmp_path: Path) -> None:
    script = (
        "import hashlib, sys\n"
        "from atr_bench.components.text_encoders.word2vec import Word2VecEncoder\n"
        f"corpus = {CORPUS!r}\n"
        f"enc = Word2VecEncoder(**{FAST!r})\n"
        "enc.fit(corpus, sys.argv[1])\n"
        "print(hashlib.sha256(b''.join(a.tobytes() for a in enc.encode(corpus))).hexdigest())\n"
    )
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path / seed)],
            env={**os.environ, "PYTHONHASHSEED": seed},
            stdout=subprocess.PIPE,
            text=True,
        )
        for seed in ("1", "2")
    ]
    digests = [run.communicate(timeout=60)[0].strip() for run in runs]
    assert all(run.returncode == 0 for run in runs)
    assert digests[0] == digests[1] == _digest(_fitted(tmp_path / "here").encode(CORPUS))


def test_word2vec_errors(tmp_path: Path) -> None:
    encoder = Word2VecEncoder(**FAST)
    with pytest.raises(AtrBenchError, match="not fitted"):
        encoder.encode(["a beep"])
    with pytest.raises(AtrBenchError, match="not fitted"):
        _ = encoder.cache_tag
    with pytest.raises(AtrBenchError, match="min_count=5 times; lower min_count"):
        Word2VecEncoder(epochs=1, min_count=5).fit(["one two", "three"], tmp_path)


def test_w2v_looks_up_the_seed_pickle(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    data = {
        "clip_a": [rng.standard_normal((4, 300)).astype(np.float32) for _ in range(5)],
        "clip_b": [rng.standard_normal((n, 300)) for n in (1, 7)],
    }
    dataset = tmp_path / "AudioCaps"
    (dataset / "TextEmbeddings").mkdir(parents=True)
    with open(dataset / "TextEmbeddings" / "w2v_val.pkl", "wb") as handle:
        pickle.dump(data, handle)
    encoder = SPECS["w2v"].build()
    got = encoder.lookup(dataset, "val")
    assert sorted(got) == ["clip_a", "clip_b"]
    assert [a.shape for a in got["clip_b"]] == [(1, 300), (7, 300)]
    np.testing.assert_allclose(got["clip_b"][1], data["clip_b"][1], rtol=1e-6)
    assert isinstance(encoder, W2VPickle) and encoder.dim == 300
    with pytest.raises(AtrBenchError, match="not found"):
        encoder.lookup(dataset, "test")
    with pytest.raises(AtrBenchError, match="cannot encode new captions"):
        encoder.encode(["a beep"])
