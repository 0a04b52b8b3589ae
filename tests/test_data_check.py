"""`atr-bench data check` on small AudioCaps-layout data roots: it finds planted overlaps (by id
and by identical features), duplicate and empty captions, constant and non-finite features,
and reports canonical coverage with the missing ids."""

from __future__ import annotations

import csv
from pathlib import Path

import h5py
import numpy as np

from atr_bench.cli.main import main
from atr_bench.data.canonical import packaged_facts
from atr_bench.data.layout import DatasetLayout

DIM, FRAMES = 128, 10


def write_root(
    root: Path,
    captions: dict[str, dict[str, list[str]]],
    features: dict[str, dict[str, np.ndarray]],
) -> Path:
    """Index CSVs written row by row (so empty captions can be planted) and vggish features."""
    layout = DatasetLayout(root, "AudioCaps")
    for split, clips in captions.items():
        path = layout.index_csv(split)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(("audiocap_id", "youtube_id", "start_time", "caption"))
            for clip_id, texts in clips.items():
                for text in texts:
                    writer.writerow((f"{split}{clip_id}{text}", clip_id, 0, text))
        h5 = layout.features("vggish", split)
        h5.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(h5, "w") as handle:
            for clip_id, rows in features[split].items():
                handle.create_dataset(clip_id, data=rows)
    return root


def random_rows(rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal((FRAMES, DIM), dtype=np.float32)


def check(root: Path, *extra: str) -> list[str]:
    return ["data", "check", "--dataset", "audiocaps", "--data-root", str(root), *extra]


def test_check_finds_every_planted_problem(tmp_path, capsys) -> None:
    rng = np.random.default_rng(0)
    captions = {
        "train": {
            "t0": ["a dog barks"],
            "t1": ["rain falls"],
            "t2": ["wind blows"],
            "shared": ["a car passes"],
        },
        "val": {"v1": ["birds sing", ""], "v2": ["a bell rings"]},
        "test": {
            "shared": ["a car passes by"],
            "e1": ["thunder"],
            "e2": ["A dog  barks."],
            "e3": ["a man speaks"],
        },
    }
    same = random_rows(rng)
    broken = random_rows(rng)
    broken[3, 7] = np.nan
    features = {
        "train": {
            "t0": random_rows(rng),
            "t1": same,
            "t2": np.zeros((FRAMES, DIM), np.float32),
            "shared": random_rows(rng),
        },
        "val": {"v1": random_rows(rng)},  # v2 has no features
        "test": {
            "shared": random_rows(rng),
            "e1": same.copy(),
            "e2": random_rows(rng),
            "e3": broken,
        },
    }
    root = write_root(tmp_path, captions, features)
    assert main(check(root, "--no-progress")) == 1
    out = capsys.readouterr().out.splitlines()
    problems = [line.removeprefix("PROBLEM: ") for line in out if line.startswith("PROBLEM: ")]
    assert problems == [
        "train and test share 1 clips (first: shared)",
        "1 clips with an empty caption (first: val/v1)",
        "vggish/train: 1 clips have constant features (first: t2)",
        "vggish/val: 1 clips have no features (first: v2)",
        "vggish/test: 1 clips have NaN or inf features (first: e3)",
        "train and test share 1 clips by identical vggish features (first: t1=e1)",
    ]
    assert "1 captions appear in more than one split ('a dog barks')" in out
    assert "test: 4 clips, 4 captions; no canonical match" in out
    assert out[-1] == "6 problems found"


def _canonical(split: str, n: int) -> list[str]:
    (original,) = [
        c for c in packaged_facts()["audiocaps"][split] if c.version == "AudioCaps original"
    ]
    return sorted(original.captions)[:n]


def test_a_clean_root_passes_and_shows_its_coverage(tmp_path, capsys) -> None:
    rng = np.random.default_rng(1)
    sizes = {"train": (4, 1), "val": (2, 5), "test": (3, 5)}
    captions = {
        split: {
            clip_id: [f"{split} clip {i} caption {j}" for j in range(per_clip)]
            for i, clip_id in enumerate(_canonical(split, n))
        }
        for split, (n, per_clip) in sizes.items()
    }
    features = {
        split: {clip_id: random_rows(rng) for clip_id in clips} for split, clips in captions.items()
    }
    root = write_root(tmp_path, captions, features)
    assert main(check(root, "--extractor", "vggish")) == 0
    out = capsys.readouterr().out.splitlines()
    first = ", ".join(_canonical("test", 8)[3:8])
    assert out[-1] == "no problems found"
    assert (
        "test: 3 clips, 15 captions; AudioCaps original / AudioCaps 2.0, 3 of 975 clips, 15 of "
        f"4,875 captions; 972 missing (first: {first}, ...)"
    ) in out
    assert not any(line.startswith("PROBLEM") for line in out)
