"""Audio features read onto the run's device a block at a time (``data.onto_device``): the
tensor ``read_features`` gives, made on the device, through a host buffer of one block; and a
run's loading puts loaded audio there without reading the split into host memory first."""

from __future__ import annotations

import dataclasses

import h5py
import numpy as np
import pytest
import torch
from feature_files import plain_features

from atr_bench.data import onto_device, streamed
from atr_bench.data.feature_store import read_features
from atr_bench.errors import AtrBenchError

IDS = [f"c{i}" for i in range(7)]
ORDER = ["c5", "c0", "c3", "c6", "c1"]


@pytest.fixture
def plain(tmp_path):
    """Clips as atr-bench writes them (plain float32), some longer than the frames read."""
    return plain_features(tmp_path / "plain.h5", [1 + i for i in range(len(IDS))], 3)


@pytest.fixture
def seed_dump(tmp_path):
    """Clips as the seed's dumps hold them (float64), read through HDF5."""
    rng = np.random.default_rng(1)
    path = tmp_path / "dump.h5"
    with h5py.File(path, "w") as handle:
        for i, clip_id in enumerate(IDS):
            handle[clip_id] = rng.standard_normal((1 + i, 3))
    return path


@pytest.mark.parametrize("kind", ["plain", "seed_dump"])
@pytest.mark.parametrize("budget", [1, 2 * 5 * 3 * 4, 1 << 20])  # one clip, two, all a block
def test_the_tensor_on_the_device_is_what_read_features_gives(request, kind, budget, monkeypatch):
    path = request.getfixturevalue(kind)
    monkeypatch.setattr(streamed, "SCAN_BYTES", budget)
    expected, expected_lengths = read_features(path, ORDER, frames=5, dim=3)
    audio, lengths = onto_device.read_onto(path, ORDER, 5, 3, torch.device("cpu"), False)
    assert torch.equal(audio, expected) and torch.equal(lengths, expected_lengths)


def test_the_host_holds_one_block_on_the_way(plain, monkeypatch):
    """Made on the device (here the meta device, which holds no data), filled a block of two
    clips at a time through one buffer."""
    monkeypatch.setattr(streamed, "SCAN_BYTES", 2 * 5 * 3 * 4)
    blocks = []
    read = onto_device.read_plain_rows

    def spy(path, handle, fd, ids, layout, rows, out):
        blocks.append((rows, out.shape[0], out.ctypes.data))
        read(path, handle, fd, ids, layout, rows, out)

    monkeypatch.setattr(onto_device, "read_plain_rows", spy)
    audio, lengths = onto_device.read_onto(plain, ORDER, 5, 3, torch.device("meta"), False)
    assert audio.device.type == "meta" and audio.shape == (5, 5, 3)
    assert lengths.tolist() == [5, 1, 4, 5, 2]
    assert [list(rows) for rows, _, _ in blocks] == [[0, 1], [2, 3], [4]]
    assert [n for _, n, _ in blocks] == [2, 2, 1]
    assert len({address for _, _, address in blocks}) == 1  # one buffer, reused


@pytest.mark.parametrize("kind", ["plain", "seed_dump"])
def test_a_nan_in_a_later_block_names_its_clip(request, kind, monkeypatch):
    path = request.getfixturevalue(kind)
    with h5py.File(path, "a") as handle:
        del handle["c6"]
        handle["c6"] = np.array([[0, np.nan, 0]] * 3, np.float32 if kind == "plain" else None)
    monkeypatch.setattr(streamed, "SCAN_BYTES", 1)
    with pytest.raises(AtrBenchError, match="'c6' features contain NaN or inf") as info:
        onto_device.read_onto(path, ORDER, 5, 3, torch.device("cpu"), False)
    assert str(path) in str(info.value)


def test_a_missing_clip_is_an_error_before_anything_is_read(plain):
    with pytest.raises(AtrBenchError, match="1 of 2 clips missing"):
        onto_device.read_onto(plain, ["c0", "nosuch"], 5, 3, torch.device("meta"), False)


def _plan_and_context(tiny_data, tiny_options, tmp_path, device: str):
    from atr_bench.plugins.registry import registry
    from atr_bench.run.config import RunRequest
    from atr_bench.run.context import RunContext
    from atr_bench.run.plan import plan

    the_plan = plan(RunRequest(dataset_options=tuple(tiny_options.items())), registry(), tiny_data)
    context = RunContext(torch.device(device), tmp_path, tiny_data, progress=False, stream="never")
    return the_plan, context


def test_a_run_on_a_device_loads_its_audio_there_without_a_host_copy(
    tiny_data, tiny_options, tmp_path, monkeypatch
):
    from atr_bench.data import loading
    from atr_bench.run import execute

    the_plan, context = _plan_and_context(tiny_data, tiny_options, tmp_path, "cpu")
    on_host = execute.load_data(the_plan, context)  # features made here where missing

    def whole_into_host(*args, **kwargs):
        raise AssertionError("the split was read whole into host memory")

    monkeypatch.setattr(loading, "read_features", whole_into_host)
    meta = execute.load_data(the_plan, dataclasses.replace(context, device=torch.device("meta")))
    for (name, split), (_, host) in zip(meta.items(), on_host.items(), strict=True):
        assert isinstance(split.audio, torch.Tensor) and split.audio.device.type == "meta", name
        assert split.audio.shape == host.audio.shape and split.text.device.type == "meta"


def test_audio_with_no_room_on_the_device_is_read_into_host_memory(
    tiny_data, tiny_options, tmp_path, monkeypatch
):
    from atr_bench.data import loading
    from atr_bench.run import execute

    the_plan, context = _plan_and_context(tiny_data, tiny_options, tmp_path, "meta")
    execute.load_data(the_plan, dataclasses.replace(context, device=torch.device("cpu")))
    monkeypatch.setattr(loading, "room_on_device", lambda device, nbytes: False)
    kept = execute.load_data(the_plan, context)
    assert all(isinstance(s.audio, streamed.HostRows) for _, s in kept.items())
    assert kept.train.audio.data.device.type == "cpu"
    assert kept.train.audio[torch.tensor([1, 0])].device.type == "meta"  # batches go there
