"""Which data a run used: split digests in every record, canonical coverage of AudioCaps-layout
data with clips missing, and the refusal of a test split that overlaps the train split."""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import h5py
import numpy as np
import pytest

from atr_bench.cli.main import main
from atr_bench.data.canonical import NO_MATCH, coverage, packaged_facts, parse_facts
from atr_bench.data.canonical_build import main as build_main
from atr_bench.data.export import write_text_pickle
from atr_bench.data.identity import split_digest
from atr_bench.data.index import ClipCaptions, write_audiocaps_csv
from atr_bench.data.layout import DatasetLayout

VGGISH_DIM, VGGISH_FRAMES = 128, 10


def _records(runs: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(runs.glob("*.json"))]


def test_digest_ignores_clip_order_but_not_captions_or_ids() -> None:
    a = [ClipCaptions("x", ("a dog", "a cat")), ClipCaptions("y", ("rain",))]
    same = split_digest(list(reversed(a)))
    assert split_digest(a) == same
    assert (same.clips, same.captions) == (2, 3)
    swapped = [ClipCaptions("x", ("a cat", "a dog")), ClipCaptions("y", ("rain",))]
    renamed = [ClipCaptions("x", ("a dog", "a cat")), ClipCaptions("z", ("rain",))]
    assert split_digest(swapped).sha256 != same.sha256
    assert split_digest(renamed).sha256 != same.sha256


def test_every_record_carries_its_splits_digests(tiny_data, tmp_path, tiny_args) -> None:
    runs = tmp_path / "runs"
    assert main(tiny_args(tiny_data, runs, "--pooling", "mean", "--epochs", "1")) == 0
    (record,) = _records(runs)
    digests = record["split_digests"]
    assert {"train", "val", "test"} <= set(digests)
    for split in ("train", "val", "test"):
        assert digests[split]["clips"] == record["sizes"][split]["clips"]
        assert digests[split]["captions"] == record["sizes"][split]["captions"]
        assert len(digests[split]["sha256"]) == 64
    assert len({digests[s]["sha256"] for s in ("train", "val", "test")}) == 3
    assert "coverage" not in record  # synthcaps has no canonical splits
    assert "allowed_overlap" not in record


def _canonical_ids(split: str, n: int) -> list[str]:
    """The first ``n`` ids of the packaged original AudioCaps split."""
    (original,) = [
        c for c in packaged_facts()["audiocaps"][split] if c.version == "AudioCaps original"
    ]
    return sorted(original.captions)[:n]


def _audiocaps_root(root: Path, clips: dict[str, list[ClipCaptions]]) -> Path:
    """A tiny AudioCaps in the seed layout: Index CSVs, vggish features, w2v pickles."""
    layout = DatasetLayout(root, "AudioCaps")
    rng = np.random.default_rng(0)
    for split, split_clips in clips.items():
        write_audiocaps_csv(layout.index_csv(split), split_clips)
        path = layout.features("vggish", split)
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "w") as handle:
            for clip in split_clips:
                handle.create_dataset(
                    clip.clip_id, data=rng.standard_normal((VGGISH_FRAMES, VGGISH_DIM), "f4")
                )
        text = {
            c.clip_id: [rng.standard_normal((3, 300), dtype=np.float32) for _ in c.captions]
            for c in split_clips
        }
        write_text_pickle(layout.text_pickle(split), text)
    return root


def _clips(ids: list[str], captions: int, prefix: str) -> list[ClipCaptions]:
    return [
        ClipCaptions(clip_id, tuple(f"{prefix} {i} caption {j}" for j in range(captions)))
        for i, clip_id in enumerate(ids)
    ]


def _audiocaps_run(root: Path, runs: Path, *extra: str) -> list[str]:
    return [
        "run", "--dataset", "audiocaps", "--extractor", "vggish", "--pooling", "mean",
        "--data-root", str(root), "--runs-dir", str(runs), "--no-progress", "--epochs", "1",
        "--batch-size", "4", "--embed-dim", "16", "--device", "cpu", "--log-to", "none", *extra,
    ]  # fmt: skip


def test_audiocaps_record_with_missing_test_clips_shows_its_coverage(
    tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    test = _clips(_canonical_ids("test", 5), 5, "test")
    test[0] = ClipCaptions(test[0].clip_id, test[0].captions[:4])  # one caption fewer
    clips = {
        "train": _clips(_canonical_ids("train", 6), 1, "train"),
        "val": _clips(_canonical_ids("val", 4), 5, "val"),
        "test": [*test, ClipCaptions("notAudioCaps", ("a stranger clip",))],
    }
    root = _audiocaps_root(tmp_path / "data", clips)
    runs = tmp_path / "runs"
    with caplog.at_level(logging.INFO):
        assert main(_audiocaps_run(root, runs)) == 0
    (record,) = _records(runs)
    both = "AudioCaps original / AudioCaps 2.0"
    assert record["coverage"]["test"]["text"] == (
        f"{both}, 5 of 975 clips, 24 of 4,875 captions, 1 clips not in it"
    )
    assert record["coverage"]["test"]["missing"] == 970
    assert record["coverage"]["train"]["text"] == (
        "AudioCaps original, 6 of 49,838 clips, 6 of 49,838 captions"
    )
    assert record["coverage"]["val"]["text"] == f"{both}, 4 of 495 clips, 20 of 2,475 captions"
    assert f"test: {both}, 5 of 975 clips" in caplog.text
    assert record["split_digests"]["test"]["clips"] == 6


def test_coverage_picks_the_best_matching_version_or_says_no_match() -> None:
    facts = parse_facts(
        {
            "d": {
                "v1": {"test": {"ids": ["a", "b", "c"], "captions": [5, 5, 5]}},
                "v2": {"test": {"ids": ["a", "b", "d", "e"], "captions": [5, 5, 5, 5]}},
            }
        }
    )
    held = _clips(["a", "d", "e"], 5, "t")
    found = coverage(facts, "d", "test", held)
    assert found.text == "v2, 3 of 4 clips, 15 of 20 captions"
    assert found.missing == ("b",)
    assert coverage(facts, "d", "test", _clips(["x"], 5, "t")).text == NO_MATCH
    assert coverage(facts, "other", "test", held).text == NO_MATCH


def test_canonical_facts_are_built_from_official_csvs(tmp_path) -> None:
    official = tmp_path / "audiocaps"
    official.mkdir()
    header = "audiocap_id,youtube_id,start_time,caption\n"
    (official / "test.csv").write_text(
        header + "1,bbb,0,a dog\n2,aaa,10,rain\n3,bbb,0,a dog barks\n", encoding="utf-8"
    )
    clotho = tmp_path / "clotho"
    clotho.mkdir()
    columns = "file_name," + ",".join(f"caption_{i}" for i in range(1, 6)) + "\n"
    for name in ("development", "validation", "evaluation"):
        row = f"{name}.wav," + ",".join(f"{name} {i}" for i in range(5)) + "\n"
        (clotho / f"clotho_captions_{name}.csv").write_text(columns + row, encoding="utf-8")
    out = tmp_path / "facts.json.gz"
    args = ["--out", str(out), "--audiocaps", f"AC={official}", "--clotho", f"Clotho v2.1={clotho}"]
    assert build_main(args) == 0
    raw = json.loads(gzip.decompress(out.read_bytes()))
    assert raw["audiocaps"]["AC"] == {"test": {"ids": ["aaa", "bbb"], "captions": [1, 2]}}
    assert raw["clotho"]["Clotho v2.1"]["test"] == {"ids": ["evaluation.wav"], "captions": [5]}
    facts = parse_facts(raw)
    assert [c.n_captions for c in facts["clotho"]["train"]] == [5]
    first = out.read_bytes()
    assert build_main(args) == 0 and out.read_bytes() == first  # same sources, same bytes
    assert build_main(["--out", str(out), "--audiocaps", f"AC={tmp_path / 'none'}"]) == 2


def test_packaged_audiocaps_facts_have_the_released_counts() -> None:
    sizes = {
        split: {c.version: (c.n_clips, c.n_captions) for c in versions}
        for split, versions in packaged_facts()["audiocaps"].items()
    }
    assert sizes["train"]["AudioCaps original"] == (49_838, 49_838)
    for version in ("AudioCaps original", "AudioCaps 2.0"):
        assert sizes["val"][version] == (495, 2_475)
        assert sizes["test"][version] == (975, 4_875)


def test_packaged_clotho_facts_hold_its_evaluation_split() -> None:
    """Clotho v1's development and evaluation splits (its evaluation split is v2.1's test)."""
    sizes = {
        split: {c.version: (c.n_clips, c.n_captions) for c in versions}
        for split, versions in packaged_facts()["clotho"].items()
    }
    assert sizes == {"train": {"Clotho v1": (2_893, 14_465)}, "test": {"Clotho v1": (1_045, 5_225)}}


def test_a_test_split_overlapping_train_is_refused_unless_allowed(tmp_path, capsys) -> None:
    train = _clips(["t0", "t1", "t2", "t3", "shared"], 1, "train")
    test = _clips(["shared", "e1", "e2"], 2, "test")
    root = _audiocaps_root(tmp_path / "data", {"train": train, "val": test[1:], "test": test})
    runs = tmp_path / "runs"
    assert main(_audiocaps_run(root, runs)) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "atr-bench: error: test split shares 1 clips with train (first: shared); "
        "pass --allow-overlap to run anyway"
    )
    assert not list(runs.glob("*.json"))
    assert main(_audiocaps_run(root, runs, "--allow-overlap")) == 0
    (record,) = _records(runs)
    assert record["allowed_overlap"] == 1
    assert record["coverage"]["test"]["text"] == NO_MATCH
