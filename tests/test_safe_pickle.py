"""The restricted unpickler reads real numpy pickles (numpy 1 and 2 names, every protocol) and
refuses anything else without running it."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from atr_bench.data.safe_pickle import load_text_pickle
from atr_bench.errors import AtrBenchError


def _features(seed: int = 0) -> dict[str, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return {
        "yt_a": [rng.standard_normal((n, 300)).astype(np.float32) for n in (3, 7, 1, 4, 2)],
        "yt_b": [rng.standard_normal((5, 300)).astype(np.float32)],
    }


def _dump(path, obj, protocol=pickle.DEFAULT_PROTOCOL):
    with open(path, "wb") as handle:
        pickle.dump(obj, handle, protocol=protocol)
    return path


def _assert_same(got, want):
    assert list(got) == list(want)
    for clip_id, arrays in want.items():
        assert len(got[clip_id]) == len(arrays)
        for have, expected in zip(got[clip_id], arrays, strict=True):
            assert have.dtype == np.float32
            np.testing.assert_array_equal(have, expected)


@pytest.mark.parametrize("protocol", range(2, pickle.HIGHEST_PROTOCOL + 1))
def test_reads_a_real_pickle_of_numpy_arrays(tmp_path, protocol):
    want = _features()
    path = _dump(tmp_path / "w2v_val.pkl", want, protocol)
    _assert_same(load_text_pickle(path), want)


@pytest.mark.parametrize("protocol", [2, 3])
def test_accepts_numpy_1_module_names_of_old_seed_pickles(tmp_path, protocol):
    want = _features(1)
    blob = pickle.dumps(want, protocol=protocol)
    assert b"numpy._core" in blob  # GLOBAL opcodes are text, so the rename is exact
    path = tmp_path / "old.pkl"
    path.write_bytes(blob.replace(b"numpy._core", b"numpy.core"))
    _assert_same(load_text_pickle(path), want)


def test_float64_arrays_and_empty_captions_are_normalised(tmp_path):
    data = {"c": [np.ones((2, 300)), np.array([])]}
    got = load_text_pickle(_dump(tmp_path / "x.pkl", data))
    assert got["c"][0].dtype == np.float32 and got["c"][0].shape == (2, 300)
    assert got["c"][1].shape == (0, 300)


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_refuses_a_malicious_pickle_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = _dump(tmp_path / "evil.pkl", {"a": [_Exploit(marker)]})
    with pytest.raises(AtrBenchError) as info:
        load_text_pickle(path)
    message = str(info.value)
    assert str(path) in message and f"forbidden global {os.system.__module__}.system" in message
    assert not marker.exists()


@pytest.mark.parametrize(
    "payload",
    [
        b"cbuiltins\neval\n(S'1+1'\ntR.",
        b"cbuiltins\ngetattr\n.",
        b"cnumpy\nload\n.",
        b"csubprocess\nPopen\n.",
    ],
)
def test_refuses_every_global_outside_the_allow_list(tmp_path, payload):
    path = tmp_path / "evil.pkl"
    path.write_bytes(payload)
    with pytest.raises(AtrBenchError, match=r"evil\.pkl: refusing to unpickle forbidden global"):
        load_text_pickle(path)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([np.zeros((1, 300))], "expected a dict"),
        ({"a": np.zeros((1, 300))}, "not clip id -> list"),
        ({1: [np.zeros((1, 300))]}, "not clip id -> list"),
        ({"a": [np.zeros((2, 299))]}, r"caption 0 has shape \(2, 299\)"),
        ({"a": [np.zeros((1, 300)), np.zeros(300)]}, "caption 1 has shape"),
        ({"a": ["words"]}, "caption 0 is not a numeric array"),
        ({"a": [np.full((1, 300), np.nan)]}, "NaN or inf"),
    ],
)
def test_validates_the_structure(tmp_path, data, message):
    path = _dump(tmp_path / "w2v_train.pkl", data)
    with pytest.raises(AtrBenchError, match=message) as info:
        load_text_pickle(path)
    assert str(path) in str(info.value)


def test_missing_and_truncated_files(tmp_path):
    with pytest.raises(AtrBenchError, match=r"none\.pkl: text feature pickle not found"):
        load_text_pickle(tmp_path / "none.pkl")
    path = _dump(tmp_path / "cut.pkl", _features())
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(AtrBenchError, match=r"cut\.pkl: corrupt or truncated pickle"):
        load_text_pickle(path)


class _Claims:
    """Pickles as a call of numpy's array rebuilder with the shape given, and nothing else."""

    def __init__(self, shape):
        self.shape = shape

    def __reduce__(self):
        rebuild = np.zeros(1).__reduce__()[0]
        return rebuild, (np.ndarray, self.shape, b"b")


def _hostile(tmp_path, name):
    if name == "codec":  # bytes stored through a codec that is not latin-1
        data = pickle.dumps({"a": [b"\xff"]}, protocol=2)
        assert b"latin1" in data
        return data.replace(b"latin1", b"rot_13")
    if name == "build-on-int":
        return b"\x80\x02K\x01}b."  # BUILD with an int as the object
    if name == "terabyte":
        return pickle.dumps({"a": [_Claims((10**12,))]}, protocol=2)
    if name == "nested":
        return b"\x80\x02" + b"]" * 100_000 + b"a" * 99_999 + b"."  # lists in lists
    raise AssertionError(name)


@pytest.mark.parametrize("name", ["codec", "build-on-int", "terabyte", "nested"])
def test_a_hostile_pickle_is_one_line_naming_the_file(tmp_path, name):
    path = tmp_path / "w2v_train.pkl"
    path.write_bytes(_hostile(tmp_path, name))
    with pytest.raises(AtrBenchError) as info:
        load_text_pickle(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_a_fifo_or_folder_is_refused_without_waiting(tmp_path):
    fifo = tmp_path / "w2v_train.pkl"
    os.mkfifo(fifo)
    with pytest.raises(AtrBenchError, match="not a file"):
        load_text_pickle(fifo)
    (tmp_path / "w2v_val.pkl").mkdir()
    with pytest.raises(AtrBenchError, match="not a file"):
        load_text_pickle(tmp_path / "w2v_val.pkl")
