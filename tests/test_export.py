"""``atr-bench data export``: the files the paper's released code reads, holding exactly the
tensors atr-bench trains on."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from atr_bench.cli.main import main
from atr_bench.components.datasets.indexed import DatasetDefaults
from atr_bench.data.export import export_seed_layout
from atr_bench.data.index import ClipCaptions
from atr_bench.data.layout import SPLITS, DatasetLayout
from atr_bench.data.safe_pickle import load_text_pickle
from atr_bench.data.text_store import read_text_features
from atr_bench.errors import AtrBenchError
from atr_bench.plugins.contract import Dataset, Indexed


def _export_args(data, out, tiny_options):
    args = ["data", "export", "--data-root", str(data), "--out", str(out), "--no-progress"]
    for key, value in tiny_options.items():
        args += ["--dataset-opt", f"{key}={value}"]
    return args


def test_export_writes_the_seed_layout_with_the_same_tensors(tiny_data, tmp_path, tiny_options):
    out = tmp_path / "export"
    assert main(_export_args(tiny_data, out, tiny_options)) == 0
    (source,) = [p for p in tiny_data.iterdir() if p.name.startswith("SynthCaps")]
    target = out / source.name
    for split in SPLITS:
        index = json.loads((target / "Index" / f"{split}.json").read_text())
        ids = [clip["audio_id"] for clip in index["audios"]]
        exported = load_text_pickle(target / "TextEmbeddings" / f"w2v_{split}.pkl")
        (cache,) = (source / "TextEmbeddings").glob(f"word2vec-*_{split}.h5")
        cached = read_text_features(cache)
        assert list(exported) == ids == list(cached)
        for clip in ids:
            assert len(exported[clip]) == 5
            for a, b in zip(exported[clip], cached[clip], strict=True):
                assert a.dtype == np.float32 and np.array_equal(a, b)
        with (
            h5py.File(source / "AudioExpert/lms" / split / "lms.h5") as a,
            h5py.File(target / "AudioExpert/lms" / split / "lms.h5") as b,
        ):
            assert sorted(a) == sorted(b) == sorted(ids)
            assert all(np.array_equal(a[c][()], b[c][()]) for c in ids)


def test_export_refuses_to_write_over_its_own_data(tiny_data, tiny_options, capsys):
    assert main(_export_args(tiny_data, tiny_data, tiny_options)) == 2
    assert "export to another folder" in capsys.readouterr().err


class _Unindexed:
    """A dataset that lists its clips itself: no Index files to export."""

    name = "listed"

    def __init__(self, root):
        self.layout = DatasetLayout(root, "Listed")
        self.defaults = DatasetDefaults(clip_seconds=1.0, text_encoder="word2vec")

    def clips(self, split):
        return [ClipCaptions(f"{split}1", ("a beep",))]

    def ensure_audio_features(self, extractor, build, progress=True):
        return None


def test_export_refuses_a_dataset_without_index_files(tmp_path):
    dataset = _Unindexed(tmp_path / "data")
    assert isinstance(dataset, Dataset) and not isinstance(dataset, Indexed)
    with pytest.raises(AtrBenchError, match=r"dataset 'listed' has no Index files .*Indexed"):
        export_seed_layout(dataset, "lms", {}, tmp_path / "out")


def test_run_reads_the_export_and_never_advises_deleting_its_features(
    tiny_data, tmp_path, tiny_options, capsys
):
    """The exported files run as a Clotho-layout dataset with the w2v encoder; a pickle that no
    longer matches the index is reported without advice to delete what cannot be made again."""
    import pickle

    out = tmp_path / "export"
    assert main(_export_args(tiny_data, out, tiny_options)) == 0
    (exported,) = out.iterdir()
    (out / "Clotho").symlink_to(exported.name)
    args = ["run", "--dataset", "clotho", "--text-encoder", "w2v", "--audio-frames", "20"]
    args += ["--data-root", str(out), "--runs-dir", str(tmp_path / "runs"), "--no-progress"]
    args += ["--epochs", "1", "--batch-size", "16", "--pooling", "mean"]
    assert main(args) == 0
    pkl = exported / "TextEmbeddings" / "w2v_val.pkl"
    data = pickle.loads(pkl.read_bytes())
    first = next(iter(data))
    data[first] = data[first][:-1]
    pkl.write_bytes(pickle.dumps(data))
    capsys.readouterr()
    assert main([*args, "--force"]) == 2
    err = capsys.readouterr().err
    assert "has 4 caption features but the index lists 5" in err
    assert "cannot be made again" in err and "delete" not in err


def test_export_never_replaces_files_already_there_unless_told(
    tiny_data, tmp_path, tiny_options, capsys
):
    """Text pickles made elsewhere cannot be rebuilt: an export onto a data root that has them
    is refused before any work, and replaces them only with --overwrite; --out a file is one
    line too."""
    out = tmp_path / "export"
    assert main(_export_args(tiny_data, out, tiny_options)) == 0
    (exported,) = out.iterdir()
    precious = exported / "TextEmbeddings" / "w2v_train.pkl"
    precious.write_bytes(b"made by another tool")
    capsys.readouterr()
    assert main(_export_args(tiny_data, out, tiny_options)) == 2
    err = capsys.readouterr().err
    assert "already exist" in err and "--overwrite" in err and len(err.splitlines()) == 1
    assert precious.read_bytes() == b"made by another tool"
    assert main([*_export_args(tiny_data, out, tiny_options), "--overwrite"]) == 0
    assert load_text_pickle(precious)
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    assert main(_export_args(tiny_data, a_file, tiny_options)) == 2
    assert "not a folder" in capsys.readouterr().err and a_file.read_text() == "x"
