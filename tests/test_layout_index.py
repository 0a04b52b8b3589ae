"""Seed-layout paths and the AudioCaps CSV / Clotho JSON index readers and writers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from atr_bench.data.index import (
    ClipCaptions,
    read_audiocaps_csv,
    read_clotho_json,
    write_audiocaps_csv,
    write_clotho_json,
)
from atr_bench.data.layout import SPLITS, DatasetLayout
from atr_bench.errors import AtrBenchError

CLIPS = [
    ClipCaptions("b", ("a dog barks", "a dog, then a car")),
    ClipCaptions("a", ("rain falls",)),
]


def test_layout_paths_follow_the_seed_layout():
    layout = DatasetLayout("data", "AudioCaps")
    base = Path("data/AudioCaps")
    assert SPLITS == ("train", "val", "test")
    assert layout.path == base
    assert layout.index_csv("val") == base / "Index/val.csv"
    assert layout.index_json("test") == base / "Index/test.json"
    assert layout.features("vggish", "train") == base / "AudioExpert/vggish/train/vggish.h5"
    assert layout.text_pickle("val") == base / "TextEmbeddings/w2v_val.pkl"
    assert layout.text_cache("word2vec", "val", "ab12") == (
        base / "TextEmbeddings/word2vec-ab12_val.h5"
    )
    assert layout.text_cache("w2v", "test") == base / "TextEmbeddings/w2v_test.h5"


def test_audiocaps_csv_groups_rows_by_clip_in_first_appearance_order(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text(
        "audiocap_id,youtube_id,start_time,caption\n"
        "1,yB,30,A man speaks\n"
        "2,yA,0,Birds chirp\n"
        '3,yB,30,"Speech, then a door"\n',
        encoding="utf-8",
    )
    assert read_audiocaps_csv(path) == [
        ClipCaptions("yB", ("A man speaks", "Speech, then a door")),
        ClipCaptions("yA", ("Birds chirp",)),
    ]


def test_audiocaps_csv_round_trips(tmp_path):
    path = write_audiocaps_csv(tmp_path / "Index" / "val.csv", CLIPS)
    assert read_audiocaps_csv(path) == CLIPS
    assert path.read_text(encoding="utf-8").splitlines()[0] == (
        "audiocap_id,youtube_id,start_time,caption"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("audiocap_id,youtube_id,caption\n1,y,hi\n", "missing column(s) start_time"),
        ("audiocap_id,youtube_id,start_time,caption\n1,y,0,  \n", "line 2: empty caption"),
        ("audiocap_id,youtube_id,start_time,caption\n1,,0,hi\n", "empty youtube_id"),
        (
            "audiocap_id,youtube_id,start_time,caption\n1,y,0,hi\n1,z,0,ho\n",
            "duplicate audiocap_id '1'",
        ),
    ],
)
def test_audiocaps_csv_errors_name_the_file_and_fault(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AtrBenchError, match=r"bad\.csv") as info:
        read_audiocaps_csv(path)
    assert message in str(info.value)


def test_audiocaps_csv_that_is_not_utf8_is_reported(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"audiocap_id,youtube_id,start_time,caption\n1,y,0,caf\xe9 \xff\n")
    with pytest.raises(AtrBenchError, match=r"latin\.csv: not a readable CSV"):
        read_audiocaps_csv(path)


def test_clotho_json_round_trips_atomically(tmp_path):
    path = write_clotho_json(tmp_path / "Index" / "train.json", CLIPS)
    assert read_clotho_json(path) == CLIPS
    assert json.loads(path.read_text(encoding="utf-8"))["audios"][0] == {
        "audio_id": "b",
        "captions": ["a dog barks", "a dog, then a car"],
    }
    assert [p.name for p in path.parent.iterdir()] == ["train.json"]  # no temp file left


def test_clotho_json_accepts_numbered_caption_keys(tmp_path):
    entry = {"audio_id": "x.wav", **{f"caption_{i}": f"cap {i}" for i in (2, 1, 10, 3)}}
    path = tmp_path / "dev.json"
    path.write_text(json.dumps({"audios": [entry]}), encoding="utf-8")
    assert read_clotho_json(path) == [ClipCaptions("x.wav", ("cap 1", "cap 2", "cap 3", "cap 10"))]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ('{"audios": [', "not valid JSON"),
        ('{"clips": []}', "'audios' list"),
        ('{"audios": [{"captions": ["x"]}]}', "audios[0] has no 'audio_id'"),
        ('{"audios": [{"audio_id": "a"}]}', "neither 'captions'"),
        ('{"audios": [{"audio_id": "a", "captions": []}]}', "clip 'a' has no captions"),
        ('{"audios": [{"audio_id": "a", "captions": ["ok", " "]}]}', "empty caption"),
        (
            '{"audios": [{"audio_id": "a", "captions": ["x"]},'
            ' {"audio_id": "a", "captions": ["y"]}]}',
            "duplicate clip id 'a'",
        ),
    ],
)
def test_clotho_json_errors_name_the_file_and_fault(tmp_path, data, message):
    path = tmp_path / "bad.json"
    path.write_text(data, encoding="utf-8")
    with pytest.raises(AtrBenchError, match=r"bad\.json") as info:
        read_clotho_json(path)
    assert message in str(info.value)


def test_missing_index_files_are_reported(tmp_path):
    for reader, name in ((read_audiocaps_csv, "x.csv"), (read_clotho_json, "x.json")):
        with pytest.raises(AtrBenchError, match=rf"{name}: index file not found"):
            reader(tmp_path / name)


def test_writers_refuse_invalid_clips(tmp_path):
    with pytest.raises(AtrBenchError, match="duplicate clip id 'a'"):
        write_clotho_json(tmp_path / "x.json", [ClipCaptions("a", ("x",))] * 2)
    with pytest.raises(AtrBenchError, match="empty caption"):
        write_audiocaps_csv(tmp_path / "x.csv", [ClipCaptions("a", ("",))])
    assert not list(tmp_path.iterdir())


def test_an_index_nested_too_deeply_or_a_folder_is_one_line(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text('{"audios": ' + "[" * 100_000 + "]" * 100_000 + "}")
    folder = tmp_path / "train.csv"
    folder.mkdir()
    fifo = tmp_path / "test.json"
    os.mkfifo(fifo)
    for read, path, says in (
        (read_clotho_json, deep, "nested too deeply"),
        (read_audiocaps_csv, folder, "a folder"),
        (read_clotho_json, fifo, "not a regular file"),
    ):
        with pytest.raises(AtrBenchError, match=says) as info:
            read(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)
