"""Streamed audio features: the rows ``read_features`` gives, read a batch at a time; bad
files are caught when the split is opened; a streamed run gives the same numbers."""

from __future__ import annotations

import dataclasses
import json

import h5py
import numpy as np
import pytest
import torch
from feature_files import plain_features

from atr_bench.cli.main import main
from atr_bench.data import streamed
from atr_bench.data.feature_store import read_features
from atr_bench.errors import AtrBenchError

IDS = ["c0", "c1", "c2", "c3", "c4"]


@pytest.fixture
def store(tmp_path):
    return plain_features(tmp_path / "f.h5", [2 + 2 * i for i in range(len(IDS))], 3)


@pytest.mark.parametrize("budget", [1, 1 << 20])  # scan one clip at a time, or all at once
def test_rows_equal_the_loaded_rows_for_slices_and_index_tensors(store, monkeypatch, budget):
    monkeypatch.setattr(streamed, "SCAN_BYTES", budget)
    order = ["c3", "c0", "c4", "c1"]
    whole, lengths = read_features(store, order, frames=5)
    features, got_lengths = streamed.open_streamed(store, order, frames=5, dim=3, progress=False)
    assert torch.equal(got_lengths, lengths) and features.shape == whole.shape
    assert torch.equal(features[1:3], whole[1:3]) and torch.equal(features[:], whole)
    index = torch.tensor([2, 0, 2, 3])  # repeats, as captions of one clip in a batch
    assert torch.equal(features[index], whole[index])
    assert features.to("cpu")[index].device.type == "cpu"


def test_rows_read_ahead_are_the_rows_asked_for(store):
    order = ["c3", "c0", "c4", "c1"]
    whole, _ = read_features(store, order, frames=5)
    features, _ = streamed.open_streamed(store, order, frames=5, dim=3, progress=False)
    index = torch.tensor([3, 1, 3])
    features.prefetch(index)
    assert torch.equal(features[index], whole[index])  # taken from the read ahead
    features.prefetch(slice(0, 2))
    assert torch.equal(features[2:4], whole[2:4])  # another index: read as usual
    assert torch.equal(features[0:2], whole[0:2])
    streamed.prefetch(whole, index)  # a loaded tensor: nothing to read


def test_a_training_loop_reads_every_batch_once_and_ahead(store, monkeypatch):
    """The loop asks for the next batch before it takes the current one (read a step
    earlier): both reads ahead are kept, so no batch is read twice or waited for twice."""
    order = ["c3", "c0", "c4", "c1"]
    whole, _ = read_features(store, order, frames=5)
    features, _ = streamed.open_streamed(store, order, frames=5, dim=3, progress=False)
    reads = []
    read = features._read
    monkeypatch.setattr(features, "_read", lambda rows: (reads.append(rows), read(rows))[1])
    batches = [torch.tensor([0, 1]), torch.tensor([2, 3]), torch.tensor([1, 2])]
    features.prefetch(batches[0])
    for i, batch in enumerate(batches):
        if i + 1 < len(batches):
            features.prefetch(batches[i + 1])
        assert torch.equal(features[batch], whole[batch])
    assert reads == [tuple(batch.tolist()) for batch in batches]


def test_contiguous_float32_clips_are_read_without_hdf5_and_others_through_it(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "mixed.h5"
    with h5py.File(path, "w") as handle:
        handle["a"] = rng.standard_normal((6, 3)).astype(np.float32)  # contiguous float32
        handle["b"] = rng.standard_normal((2, 3)).astype(np.float32)
        handle.create_dataset("c", data=rng.standard_normal((3, 3)), chunks=(1, 3))  # float64
    plain, _ = streamed.open_streamed(path, ["a", "b"], frames=4, dim=3, progress=False)
    mixed, _ = streamed.open_streamed(path, ["a", "c"], frames=4, dim=3, progress=False)
    assert plain.places is not None and mixed.places is None
    index = torch.tensor([1, 0, 1])
    assert torch.equal(plain[index], read_features(path, ["a", "b"], frames=4)[0][index])
    assert torch.equal(mixed[index], read_features(path, ["a", "c"], frames=4)[0][index])


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("soft", "is a SoftLink"),
        ("group", "not a numeric"),
        ("wide", "has dim 4"),
        ("empty", "has no frames"),
        ("float64", None),
        ("chunked", None),
    ],
)
def test_a_clip_that_is_not_plain_float32_rows_goes_through_hdf5(store, kind, says):
    """Only clips as atr-bench writes them are located from HDF5's metadata alone; any other
    sends the whole split through HDF5, which reads the readable ones and names the rest."""
    with h5py.File(store, "a") as handle:
        if kind == "soft":
            handle["odd"] = h5py.SoftLink("/c0")
        elif kind == "group":
            handle.create_group("odd")
        elif kind == "wide":
            handle["odd"] = np.zeros((2, 4), dtype=np.float32)
        elif kind == "empty":
            handle["odd"] = np.zeros((0, 3), dtype=np.float32)
        else:
            data = np.arange(9.0).reshape(3, 3)
            handle.create_dataset("odd", data=data.astype(np.float32), chunks=(1, 3))
            if kind == "float64":
                del handle["odd"]
                handle["odd"] = data
    order = ["c1", "odd", "c2"]
    if says is not None:
        with pytest.raises(AtrBenchError, match=says):
            streamed.open_streamed(store, order, frames=4, dim=3, progress=False)
        return
    features, lengths = streamed.open_streamed(store, order, frames=4, dim=3, progress=False)
    whole, whole_lengths = read_features(store, order, frames=4)
    assert features.places is None and torch.equal(lengths, whole_lengths)
    assert torch.equal(features[torch.tensor([1, 0, 2])], whole[torch.tensor([1, 0, 2])])


def test_padding_is_zero_whatever_memory_the_rows_are_read_into(store, monkeypatch):
    """Rows are read into unfilled memory (zeroing a whole batch first would write it twice);
    the frames after a short clip must still come out 0."""
    order = ["c4", "c0", "c2"]  # 10, 2 and 6 frames, padded to 8
    expected, _ = read_features(store, order, frames=8)
    empty = np.empty

    def poisoned(*args, **kwargs):
        out = empty(*args, **kwargs)
        if out.dtype.kind == "f":
            out.fill(np.nan)
        return out

    monkeypatch.setattr(np, "empty", poisoned)
    whole, _ = read_features(store, order, frames=8)
    features, _ = streamed.open_streamed(store, order, frames=8, dim=3, progress=False)
    assert features.places is not None  # rows read with pread
    features_hdf5 = streamed.StreamedFeatures(store, order, 8, 3)  # no places: through HDF5
    index = torch.tensor([1, 2, 0, 1])
    for got in (whole, features[:], features[index], features_hdf5[index]):
        assert not got.isnan().any()
    assert torch.equal(whole, expected) and torch.equal(features[index], expected[index])
    assert torch.equal(features_hdf5[index], expected[index])


@pytest.mark.parametrize("budget", [1, 1 << 20])  # the bad clip in a later block, or in the one
def test_a_bad_clip_is_reported_when_the_split_is_opened(store, monkeypatch, budget):
    monkeypatch.setattr(streamed, "SCAN_BYTES", budget)
    with h5py.File(store, "a") as handle:
        handle["bad"] = np.array([[1.0, np.nan, 0.0]], dtype=np.float32)
    with pytest.raises(AtrBenchError, match=r"clip 'bad' features contain NaN"):
        streamed.open_streamed(store, [*IDS, "bad", "c0"], frames=4, dim=3, progress=False)
    with pytest.raises(AtrBenchError, match=r"1 of 2 clips missing \('nope'\)"):
        streamed.open_streamed(store, ["c0", "nope"], frames=4, dim=3, progress=False)


def test_auto_streams_on_the_cpu_what_is_large_elsewhere_what_would_crowd_memory(monkeypatch):
    monkeypatch.setattr(streamed, "memory_bytes", lambda: 1000)
    assert streamed.should_stream("auto", 501) and not streamed.should_stream("auto", 500)
    assert streamed.should_stream("always", 0) and not streamed.should_stream("never", 10**15)
    monkeypatch.setattr(streamed, "memory_bytes", lambda: 10**15)
    above = streamed.STREAM_ABOVE_BYTES + 1
    assert streamed.should_stream("auto", above)
    assert not streamed.should_stream("auto", above - 1)
    assert not streamed.should_stream("auto", above, "cuda")
    assert streamed.should_stream("auto", 10**15 // 2 + 1, "cuda")
    monkeypatch.setattr(streamed, "memory_bytes", lambda: None)
    assert not streamed.should_stream("auto", above, "cuda")
    with pytest.raises(AtrBenchError, match="expected one of auto, always, never"):
        streamed.should_stream("sometimes", 0)


def _record(runs):
    (path,) = runs.glob("*.json")
    return json.loads(path.read_text())


def test_a_streamed_run_gives_the_numbers_of_a_loaded_run(
    tiny_data, tmp_path, tiny_args, monkeypatch, capsys
):
    loaded, streamed_runs = tmp_path / "loaded", tmp_path / "streamed"
    assert main(tiny_args(tiny_data, loaded, "--stream-features", "never")) == 0
    monkeypatch.setattr(streamed, "memory_bytes", lambda: 1000)  # auto: everything is too big
    capsys.readouterr()
    assert main(tiny_args(tiny_data, streamed_runs)) == 0
    assert "reading them from disk a batch at a time" in capsys.readouterr().err
    a, b = _record(loaded), _record(streamed_runs)
    assert a["run_id"] == b["run_id"]  # streaming is not part of the protocol
    assert a["test"] == b["test"] and a["val_curve"] == b["val_curve"]


def test_host_rows_copy_indexed_rows_to_the_device():
    data = torch.arange(24.0).view(4, 3, 2)
    rows = streamed.HostRows(data).to("cpu")
    index = torch.tensor([3, 1, 3])
    assert torch.equal(rows[index], data[index]) and torch.equal(rows[1:3], data[1:3])
    assert rows.shape == data.shape and len(rows) == 4


def test_room_on_a_gpu_is_half_its_free_memory(monkeypatch):
    assert streamed.room_on_device(torch.device("cpu"), 10**15)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (1000, 4000))
    assert streamed.room_on_device(torch.device("cuda"), 500)
    assert not streamed.room_on_device(torch.device("cuda"), 501)


def test_audio_kept_on_the_host_gives_the_numbers_of_audio_on_the_device(
    tiny_data, tmp_path, tiny_args, monkeypatch, capsys
):
    from atr_bench.data import loading

    on_device, on_host = tmp_path / "device", tmp_path / "host"
    assert main(tiny_args(tiny_data, on_device)) == 0
    monkeypatch.setattr(loading, "room_on_device", lambda device, nbytes: False)
    capsys.readouterr()
    assert main(tiny_args(tiny_data, on_host)) == 0
    assert "kept in host memory" in capsys.readouterr().err
    a, b = _record(on_device), _record(on_host)
    assert a["test"] == b["test"] and a["val_curve"] == b["val_curve"]


def test_splits_keep_in_memory_audio_on_the_host(tiny_data, tiny_options, tmp_path):
    from atr_bench.plugins.registry import registry
    from atr_bench.run import execute
    from atr_bench.run.config import RunRequest
    from atr_bench.run.context import RunContext
    from atr_bench.run.plan import plan

    config = RunRequest(dataset_options=tuple(tiny_options.items()))
    the_plan = plan(config, registry(), tiny_data)
    context = RunContext(torch.device("cpu"), tmp_path, tiny_data, progress=False, stream="never")
    splits = execute.load_data(the_plan, context)
    kept = splits.audio_on_host().to("cpu")
    assert all(isinstance(s.audio, streamed.HostRows) for _, s in kept.items())
    assert kept.audio_bytes() == 0 < splits.audio_bytes()
    assert torch.equal(kept.train.audio[torch.tensor([2, 0])], splits.train.audio[[2, 0]])
    on_disk = execute.load_data(the_plan, dataclasses.replace(context, stream="always"))
    assert isinstance(on_disk.test.audio, streamed.StreamedFeatures) and on_disk.audio_bytes() == 0
