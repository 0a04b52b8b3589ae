"""Index preparation from the official Clotho and AudioCaps caption files."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from atr_bench.data.index import ClipCaptions, read_audiocaps_csv, read_clotho_json
from atr_bench.data.layout import DatasetLayout
from atr_bench.data.prepare import (
    AUDIOCAPS_FILES,
    CLOTHO_FILES,
    prepare_audiocaps,
    prepare_clotho,
)
from atr_bench.errors import AtrBenchError

CLOTHO_HEADER = ["file_name", *(f"caption_{i}" for i in range(1, 6))]
AUDIOCAPS_HEADER = ["audiocap_id", "youtube_id", "start_time", "caption"]


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _clotho_rows(prefix: str, n: int) -> list[list[str]]:
    return [
        [f"{prefix} clip {i}.wav", *(f"{prefix} {i}, caption {k}" for k in range(1, 6))]
        for i in range(n)
    ]


def _clotho_sources(folder: Path) -> Path:
    sizes = {"train": 3, "val": 2, "test": 2}
    for split, name in CLOTHO_FILES.items():
        _write_csv(folder / name, CLOTHO_HEADER, _clotho_rows(split, sizes[split]))
    return folder


def test_prepare_clotho_writes_json_index(tmp_path: Path) -> None:
    layout = DatasetLayout(tmp_path / "data", "Clotho")
    report = prepare_clotho(_clotho_sources(tmp_path), layout)

    assert report.clips == {"train": 3, "val": 2, "test": 2}
    assert report.captions == {"train": 15, "val": 10, "test": 10}
    clips = read_clotho_json(layout.index_json("train"))
    assert clips[0] == ClipCaptions(
        "train clip 0.wav", tuple(f"train 0, caption {k}" for k in range(1, 6))
    )
    # development -> train, validation -> val, evaluation -> test
    assert read_clotho_json(layout.index_json("test"))[1].clip_id == "test clip 1.wav"
    assert "train: 3 clips, 15 captions" in report.summary()


def test_prepare_audiocaps_keeps_ids_and_start_times(tmp_path: Path) -> None:
    rows = {
        "train": [["11", "abcdefghijk", "30", "a dog barks"], ["12", "bcdefghijkl", "0", "rain"]],
        "val": [[str(20 + k), "cdefghijklm", "10", f"wind {k}"] for k in range(5)],
        "test": [[str(30 + k), "defghijklmn", "40", f"a car {k}"] for k in range(5)],
    }
    for split, name in AUDIOCAPS_FILES.items():
        _write_csv(tmp_path / name, AUDIOCAPS_HEADER, rows[split])
    layout = DatasetLayout(tmp_path / "data", "AudioCaps")

    report = prepare_audiocaps(tmp_path, layout)

    assert report.clips == {"train": 2, "val": 1, "test": 1}
    assert report.captions == {"train": 2, "val": 5, "test": 5}
    assert read_audiocaps_csv(layout.index_csv("val")) == [
        ClipCaptions("cdefghijklm", tuple(f"wind {k}" for k in range(5)))
    ]
    with open(layout.index_csv("train"), newline="", encoding="utf-8") as handle:
        assert list(csv.reader(handle)) == [AUDIOCAPS_HEADER, *rows["train"]]


def test_missing_file_names_the_official_files(tmp_path: Path) -> None:
    _clotho_sources(tmp_path)
    (tmp_path / CLOTHO_FILES["val"]).unlink()
    layout = DatasetLayout(tmp_path / "data", "Clotho")
    with pytest.raises(AtrBenchError, match=r"clotho_captions_validation\.csv: not found") as err:
        prepare_clotho(tmp_path, layout)
    assert "clotho_captions_evaluation.csv" in str(err.value)
    assert not layout.path.exists()  # nothing written
    with pytest.raises(AtrBenchError, match=r"train\.csv: not found.*val\.csv, test\.csv"):
        prepare_audiocaps(tmp_path, DatasetLayout(tmp_path / "data", "AudioCaps"))


def test_missing_column_is_an_error(tmp_path: Path) -> None:
    _clotho_sources(tmp_path)
    _write_csv(tmp_path / CLOTHO_FILES["test"], CLOTHO_HEADER[:-1], [["x.wav", "a", "b", "c", "d"]])
    with pytest.raises(AtrBenchError, match=r"missing column\(s\) caption_5"):
        prepare_clotho(tmp_path, DatasetLayout(tmp_path / "data", "Clotho"))


def test_empty_caption_is_an_error(tmp_path: Path) -> None:
    _clotho_sources(tmp_path)
    rows = _clotho_rows("val", 2)
    rows[1][3] = "  "
    _write_csv(tmp_path / CLOTHO_FILES["val"], CLOTHO_HEADER, rows)
    with pytest.raises(AtrBenchError, match=r"line 3: empty caption_3 for 'val clip 1.wav'"):
        prepare_clotho(tmp_path, DatasetLayout(tmp_path / "data", "Clotho"))

    for split, name in AUDIOCAPS_FILES.items():
        _write_csv(tmp_path / name, AUDIOCAPS_HEADER, [["1", f"id{split}", "0", "a caption"]])
    _write_csv(tmp_path / "test.csv", AUDIOCAPS_HEADER, [["1", "abc", "0", ""]])
    with pytest.raises(AtrBenchError, match=r"test\.csv, line 2: empty caption"):
        prepare_audiocaps(tmp_path, DatasetLayout(tmp_path / "data", "AudioCaps"))


def test_a_bad_test_split_leaves_the_earlier_index_as_it_was(tmp_path: Path) -> None:
    """A clip id that the index writer refuses, in the test split only, fails the whole
    preparation before any Index file of the earlier one is replaced."""
    layout = DatasetLayout(tmp_path / "data", "Clotho")
    prepare_clotho(_clotho_sources(tmp_path), layout)
    before = {p.name: p.read_bytes() for p in layout.index_json("train").parent.iterdir()}
    _write_csv(tmp_path / CLOTHO_FILES["train"], CLOTHO_HEADER, _clotho_rows("new train", 4))
    bad = _clotho_rows("test", 2)
    bad[1][0] = "../escape.wav"
    _write_csv(tmp_path / CLOTHO_FILES["test"], CLOTHO_HEADER, bad)
    with pytest.raises(AtrBenchError, match="escape"):
        prepare_clotho(tmp_path, layout)
    after = {p.name: p.read_bytes() for p in layout.index_json("train").parent.iterdir()}
    assert after == before  # no file replaced, no temp file left


def test_prepare_where_nothing_can_be_written_is_one_line(tmp_path: Path, capsys) -> None:
    """/sys takes no new folders, even from root: the folder the user named is refused in one
    line and nothing is written."""
    from atr_bench.cli.main import main

    _clotho_sources(tmp_path)
    args = ["data", "prepare", "clotho", "--captions-dir", str(tmp_path)]
    assert main([*args, "--data-root", "/sys/atr-bench-test"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "/sys/atr-bench-test" in err
    assert "Operation not permitted" in err and "give a folder you can write to" in err
