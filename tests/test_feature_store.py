"""HDF5 stores: audio features (resumable writer, padded reader, clear errors on bad files) and
the token-level text feature cache."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from atr_bench.data.feature_store import FeatureWriter, feature_dim, read_features
from atr_bench.data.text_store import read_text_features, read_text_meta, write_text_features
from atr_bench.errors import AtrBenchError


def _clip(frames: int, dim: int = 4, value: float = 0.0) -> np.ndarray:
    return (np.arange(frames * dim, dtype=np.float32).reshape(frames, dim) + value) / 10


@pytest.fixture
def store(tmp_path) -> Path:
    path = tmp_path / "AudioExpert" / "lms" / "train" / "lms.h5"
    with FeatureWriter(path) as writer:
        writer.write("short", _clip(2))
        writer.write("exact", _clip(3, value=1))
        writer.write("long", torch.from_numpy(_clip(5, value=2)))
    return path


def test_read_features_pads_crops_and_keeps_requested_order(store):
    audio, lengths = read_features(store, ["long", "short", "exact"], frames=3)
    assert audio.dtype == torch.float32 and audio.shape == (3, 3, 4)
    assert lengths.dtype == torch.int64 and lengths.tolist() == [3, 2, 3]
    np.testing.assert_array_equal(audio[0].numpy(), _clip(5, value=2)[:3])
    np.testing.assert_array_equal(audio[1, :2].numpy(), _clip(2))
    assert not audio[1, 2:].any()  # zero padding
    np.testing.assert_array_equal(audio[2].numpy(), _clip(3, value=1))
    assert feature_dim(store) == 4


def test_writer_tracks_what_is_written_and_resumes(store):
    with FeatureWriter(store) as writer:
        assert writer.written() == {"short", "exact", "long"}
        assert "long" in writer and "other" not in writer
        writer.write("other", _clip(1))
    with FeatureWriter(store) as writer:
        assert "other" in writer


def test_a_clip_interrupted_mid_write_counts_as_not_written(store):
    with h5py.File(store, "a") as handle:  # what a crash inside write() leaves behind
        handle.create_group("_atr_bench_partial").create_dataset("half", data=np.zeros((9, 4)))
    with pytest.raises(AtrBenchError, match="1 of 1 clips missing"):
        read_features(store, ["half"], frames=3)
    with FeatureWriter(store) as writer:
        assert "half" not in writer and writer.written() == {"short", "exact", "long"}
        writer.write("half", _clip(2))
    _, lengths = read_features(store, ["half"], frames=3)
    assert lengths.tolist() == [2]
    with h5py.File(store, "r") as handle:
        assert set(handle) == {"short", "exact", "long", "half"}  # staging group removed


@pytest.mark.parametrize(
    ("clip_id", "array", "message"),
    [
        ("a/b", _clip(2), "cannot be an HDF5 name"),
        ("", _clip(2), "cannot be an HDF5 name"),
        ("short", _clip(2), "already stored"),
        ("x", np.zeros(4, np.float32), r"shape \(4,\); expected \[frames >= 1, dim\]"),
        ("x", np.zeros((0, 4), np.float32), "expected"),
        ("x", np.zeros((2, 5), np.float32), "has dim 5 but the file holds dim 4"),
        ("x", np.array([[0, np.nan, 0, 0]], np.float32), "NaN or inf"),
        ("x", np.array([[0, np.inf, 0, 0]], np.float32), "NaN or inf"),
    ],
)
def test_writer_rejects_bad_clips(store, clip_id, array, message):
    with FeatureWriter(store) as writer, pytest.raises(AtrBenchError, match=message):
        writer.write(clip_id, array)
    with FeatureWriter(store) as writer:
        assert writer.written() == {"short", "exact", "long"}


def test_missing_clips_error_counts_them_and_names_the_first_few(store):
    wanted = ["short", *(f"gone{i}" for i in range(8))]
    with pytest.raises(AtrBenchError) as info:
        read_features(store, wanted, frames=3)
    message = str(info.value)
    assert str(store) in message and "8 of 9 clips missing" in message
    assert "'gone0', 'gone1', 'gone2', 'gone3', 'gone4', ..." in message
    assert "gone5" not in message and "\n" not in message


def test_missing_file_says_how_to_create_it(tmp_path):
    with pytest.raises(AtrBenchError, match=r"nope.h5: feature file not found.*atr-bench extract"):
        read_features(tmp_path / "nope.h5", ["a"], frames=3)


def _random_bytes(path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).bytes(4096))


def _truncated(path: Path) -> None:
    with FeatureWriter(path) as writer:
        for i in range(20):
            writer.write(f"c{i}", _clip(50, 16))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("damage", [_random_bytes, _truncated])
def test_corrupt_files_say_to_restore_or_re_extract(tmp_path, damage):
    path = tmp_path / "bad.h5"
    damage(path)
    for action in (
        lambda: read_features(path, ["c0"], frames=3),
        lambda: feature_dim(path),
        lambda: FeatureWriter(path),
    ):
        with pytest.raises(AtrBenchError) as info:
            action()
        message = str(info.value)
        assert str(path) in message and "put back an intact copy" in message
        assert "deleting it and extracting again" in message and "\n" not in message


def test_seed_style_dumps_without_markers_are_read(tmp_path):
    """The seed's files: plain float64 datasets at the root, no attributes."""
    path = tmp_path / "vggish.h5"
    with h5py.File(path, "w") as handle:
        handle["yt1"] = np.ones((12, 128))
        handle["yt2"] = np.full((4, 128), 2.0)
    audio, lengths = read_features(path, ["yt2", "yt1"], frames=10, dim=128)
    assert lengths.tolist() == [4, 10] and audio.dtype == torch.float32
    assert audio[0, :4].eq(2).all() and audio[0, 4:].eq(0).all() and audio[1].eq(1).all()
    with FeatureWriter(path) as writer:
        assert writer.written() == {"yt1", "yt2"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (np.zeros((3, 4, 1)), "is not a numeric \\[T, D\\] array"),
        (np.array([["a", "b", "c", "d"]], dtype=h5py.string_dtype()), "not a numeric"),
        (np.zeros((3, 5)), "has dim 5, expected 4"),
        (np.zeros((0, 4)), "has no frames"),
        (np.array([[1.0, 2.0, np.nan, 0.0]]), "NaN or inf"),
    ],
)
def test_bad_stored_clips_are_named(tmp_path, data, message):
    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as handle:
        handle["good"] = np.zeros((2, 4))
        handle["bad"] = data
    with pytest.raises(AtrBenchError, match=message) as info:
        read_features(path, ["good", "bad"], frames=3, dim=4)
    assert "'bad'" in str(info.value) and str(path) in str(info.value)


@settings(max_examples=25, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 12), min_size=1, max_size=6),
    dim=st.integers(1, 7),
    frames=st.integers(1, 10),
    seed=st.integers(0, 2**16),
)
def test_read_features_round_trip(lengths, dim, frames, seed):
    rng = np.random.default_rng(seed)
    clips = {
        f"c{i}": rng.standard_normal((n, dim)).astype(np.float32) for i, n in enumerate(lengths)
    }
    order = list(rng.permutation(list(clips)))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.h5"
        with FeatureWriter(path) as writer:
            for clip_id, array in clips.items():
                writer.write(clip_id, array)
        audio, got = read_features(path, order, frames)
    assert audio.shape == (len(order), frames, dim)
    for row, clip_id in enumerate(order):
        n = min(len(clips[clip_id]), frames)
        assert got[row] == n
        np.testing.assert_array_equal(audio[row, :n].numpy(), clips[clip_id][:n])
        assert not audio[row, n:].any()


def test_text_cache_round_trips_with_empty_captions_and_meta(tmp_path):
    rng = np.random.default_rng(1)
    features = {
        "a": [rng.standard_normal((3, 5)), np.zeros((0, 5)), rng.standard_normal((1, 5))],
        "b": [np.zeros(0)],
        "c": [],
    }
    path = write_text_features(tmp_path / "TextEmbeddings" / "w_val.h5", features, {"tag": "x1"})
    got = read_text_features(path)
    assert list(got) == ["a", "b", "c"]
    assert [a.shape for a in got["a"]] == [(3, 5), (0, 5), (1, 5)]
    for want, have in zip(features["a"], got["a"], strict=True):
        np.testing.assert_allclose(have, want.astype(np.float32))
        assert have.dtype == np.float32
    assert [a.shape for a in got["b"]] == [(0, 5)] and got["c"] == []
    assert read_text_meta(path) == {"tag": "x1"}
    assert [p.name for p in path.parent.iterdir()] == ["w_val.h5"]  # temp file replaced


def test_text_cache_write_is_atomic_on_failure(tmp_path):
    path = write_text_features(tmp_path / "t.h5", {"a": [np.ones((1, 2))]}, {"v": "1"})
    with pytest.raises(AtrBenchError, match="different token dims"):
        write_text_features(path, {"a": [np.ones((1, 2)), np.ones((1, 3))]}, {"v": "2"})
    with pytest.raises(AtrBenchError, match="cannot be an HDF5 name"):
        write_text_features(path, {"a/b": [np.ones((1, 2))]}, {"v": "2"})
    assert read_text_meta(path) == {"v": "1"}
    assert [p.name for p in tmp_path.iterdir()] == ["t.h5"]


def test_text_cache_errors(tmp_path):
    with pytest.raises(AtrBenchError, match="text feature cache not found"):
        read_text_features(tmp_path / "none.h5")
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5 at all" * 100)
    with pytest.raises(AtrBenchError, match=r"bad\.h5: not a readable HDF5 file.*delete it"):
        read_text_meta(bad)
    odd = tmp_path / "odd.h5"
    with h5py.File(odd, "w") as handle:
        handle["a"] = np.zeros((3, 2))
        handle["a"].attrs["lengths"] = np.array([1, 1])
    with pytest.raises(AtrBenchError, match="clip 'a' is inconsistent"):
        read_text_features(odd)


def test_provenance_is_stored_and_guards_resuming(tmp_path):
    from atr_bench.data.feature_store import read_provenance

    path = tmp_path / "f.h5"
    made = {"extractor": "vggish", "weights": "random"}
    with FeatureWriter(path, made) as writer:
        writer.write("a", np.ones((3, 4)))
    assert read_provenance(path) == made
    with FeatureWriter(path, made) as writer:  # the same weights resume
        writer.write("b", np.ones((2, 4)))
    other = {"extractor": "vggish", "weights": "vggish.pth sha256:0123"}
    with pytest.raises(AtrBenchError, match=r"weights='random'.*delete the file"):
        FeatureWriter(path, other)
    with FeatureWriter(path) as writer:  # no claim: a plain reader-writer
        assert writer.written() == {"a", "b"}


def _seed_dump(path: Path, made_here: bool) -> None:
    with h5py.File(path, "w") as handle:
        handle["good"] = np.zeros((2, 4), dtype=np.float32)
        handle["nan"] = np.full((2, 4), np.nan, dtype=np.float32)
        handle["soft"] = h5py.SoftLink("/nowhere")
        handle["external"] = h5py.ExternalLink("other.h5", "/good")
        if made_here:
            handle.attrs["extractor"] = "lms"


@pytest.mark.parametrize("made_here", [False, True])
@pytest.mark.parametrize(
    ("clip", "says"),
    [("nan", "NaN or inf"), ("soft", "is a SoftLink"), ("external", "is a ExternalLink")],
)
def test_a_bad_clip_never_gets_advice_to_delete_a_dump_made_elsewhere(
    tmp_path, made_here, clip, says
):
    """A seed dump cannot be made again here: its advice is to put back an intact copy; a
    file atr-bench extracted may be extracted again. Links (dangling, or to another file) are
    not features stored in the file."""
    path = tmp_path / "f.h5"
    _seed_dump(path, made_here)
    with pytest.raises(AtrBenchError, match=says) as info:
        read_features(path, ["good", clip], frames=3, dim=4)
    message = str(info.value)
    assert f"'{clip}'" in message and "\n" not in message
    assert ("delete the file and extract" in message) == made_here
    assert ("put back an intact copy" in message) == (not made_here)


def test_a_fifo_in_place_of_a_feature_file_is_refused_without_waiting(tmp_path):
    path = tmp_path / "f.h5"
    os.mkfifo(path)
    with pytest.raises(AtrBenchError, match="not a regular file"):
        read_features(path, ["a"], frames=3)


def test_plain_clips_are_read_straight_from_the_file_as_hdf5_reads_them(tmp_path, monkeypatch):
    from atr_bench.data import feature_store

    rng = np.random.default_rng(0)
    clips = {
        f"c{i}": rng.standard_normal((n, 6)).astype(np.float32) for i, n in enumerate([1, 7, 4])
    }
    path = tmp_path / "f.h5"
    with FeatureWriter(path) as writer:
        for clip_id, array in clips.items():
            writer.write(clip_id, array)
    order = ["c1", "c0", "c2"]
    with h5py.File(path, "r") as handle:  # the oracle: every clip through HDF5
        expected, expected_lengths = feature_store.read_rows(path, handle, order, 5, 6)

    def through_hdf5(*args, **kwargs):
        raise AssertionError("a file of plain clips was read through HDF5")

    monkeypatch.setattr(feature_store, "read_rows", through_hdf5)
    audio, lengths = read_features(path, order, frames=5)
    np.testing.assert_array_equal(audio.numpy(), expected)  # cropped, padded with zeros
    assert lengths.tolist() == expected_lengths.tolist() == [5, 1, 4]


@pytest.mark.parametrize("dtype", [">f4", "<f8", "<f2", "<i4"])
def test_clips_of_any_other_type_are_not_plain_and_are_read_through_hdf5(tmp_path, dtype):
    from atr_bench.data.feature_store import plain_layout

    path = tmp_path / "f.h5"
    with FeatureWriter(path) as writer:
        writer.write("plain", np.full((2, 4), 1.5, np.float32))
    with h5py.File(path, "a") as handle:
        handle["other"] = np.arange(12).reshape(3, 4).astype(dtype)
    with h5py.File(path, "r") as handle:
        offsets, lengths = plain_layout(handle, ["plain"], 5, 4)
        assert lengths.tolist() == [2] and offsets[0] > 0
        assert plain_layout(handle, ["plain", "other"], 5, 4) is None
    audio, lengths = read_features(path, ["other", "plain"], frames=5)
    assert audio[0, :3].flatten().tolist() == list(range(12)) and not audio[0, 3:].any()
    assert audio[1, :2].eq(1.5).all() and lengths.tolist() == [3, 2]


def test_a_nan_among_plain_clips_is_named(tmp_path):
    path = tmp_path / "f.h5"
    with FeatureWriter(path) as writer:
        writer.write("good", np.zeros((2, 4), np.float32))
    with h5py.File(path, "a") as handle:  # as a file written elsewhere could hold it
        handle["bad"] = np.array([[0, 0, np.inf, 0]], np.float32)
    with pytest.raises(AtrBenchError, match="'bad' features contain NaN or inf") as info:
        read_features(path, ["good", "bad"], frames=3)
    assert str(path) in str(info.value)


def test_the_nan_check_finds_the_first_bad_row_across_blocks():
    from atr_bench.data.feature_store import first_nonfinite_row

    out = np.zeros((12, 1024, 2048), np.float32)  # 8 MB rows: two blocks of 64 MB
    assert first_nonfinite_row(out) is None
    out[10, 5, 7] = np.nan
    out[11, 0, 0] = np.inf
    assert first_nonfinite_row(out) == 10
    assert first_nonfinite_row(out[:0]) is None


def test_a_clip_past_the_end_of_the_file_is_reported(tmp_path):
    from atr_bench.data.feature_store import pread_rows

    path = tmp_path / "raw"
    path.write_bytes(np.ones(8, np.float32).tobytes())  # two rows of [1, 4] at 0 and 16
    out = np.full((2, 2, 4), 9.0, np.float32)
    fd = os.open(path, os.O_RDONLY)
    try:
        offsets, lengths = np.array([0, 16]), np.array([1, 1])
        assert pread_rows(fd, [0, 1], offsets, lengths, out) is None
        assert out[:, 0].tolist() == [[1.0] * 4] * 2 and not out[:, 1].any()  # padding zeroed
        assert pread_rows(fd, [0, 1], np.array([0, 24]), lengths, out) == 1
    finally:
        os.close(fd)
