"""`atr-bench data prepare` + `atr-bench extract` + `atr-bench run` on a folder of synthesised
audio, the way a user with a real dataset goes: official caption files -> Index, audio folder ->
features (surviving a kill half way), then a protocol run on the result."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile
import torch

from atr_bench.cli.main import main
from atr_bench.data.prepare import CLOTHO_FILES
from atr_bench.plugins.registry import registry

RATE = 16000
SIZES = {"train": 12, "val": 4, "test": 4}
"""20 clips in all, split as Clotho's development / validation / evaluation files."""
WORDS = ("low hum", "high beep", "rising chirp", "noise burst", "fast clicks")


def _clip(index: int) -> tuple[str, np.ndarray, tuple[str, ...]]:
    """A 2 s clip whose pitch and pulse rate follow its caption, so retrieval has a signal."""
    kind = index % len(WORDS)
    t = np.arange(2 * RATE) / RATE
    freq = 200.0 * (kind + 1)
    wave = 0.3 * np.sin(2 * np.pi * freq * t) * (0.5 + 0.5 * np.sign(np.sin(2 * np.pi * kind * t)))
    captions = tuple(f"a {WORDS[kind]} number {index} take {k}" for k in range(5))
    return f"clip {index:02d}.wav", wave.astype(np.float32), captions


@pytest.fixture
def clotho_folder(tmp_path: Path) -> tuple[Path, Path]:
    """Official-format Clotho caption CSVs and a folder with the 20 clips' audio files."""
    captions_dir, audio_dir = tmp_path / "captions", tmp_path / "audio"
    captions_dir.mkdir()
    audio_dir.mkdir()
    index = 0
    for split, name in CLOTHO_FILES.items():
        with open(captions_dir / name, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["file_name", *(f"caption_{i}" for i in range(1, 6))])
            for _ in range(SIZES[split]):
                file_name, wave, captions = _clip(index)
                soundfile.write(audio_dir / file_name, wave, RATE)
                writer.writerow([file_name, *captions])
                index += 1
    return captions_dir, audio_dir


def _stored(path: Path) -> set[str]:
    with h5py.File(path, "r") as handle:
        return {name for name in handle if isinstance(handle[name], h5py.Dataset)}


def _extract_args(data: Path, audio: Path, extractor: str) -> list[str]:
    weights = [] if extractor == "lms" else ["--weights", "random"]
    return [
        "extract",
        "--dataset",
        "clotho",
        "--extractor",
        extractor,
        *weights,
        "--audio-dir",
        str(audio),
        "--data-root",
        str(data),
        "--device",
        "cpu",
        "--batch-size",
        "1",
    ]


def _prepare(captions_dir: Path, data: Path, capsys) -> None:
    args = ["data", "prepare", "clotho", "--captions-dir", str(captions_dir)]
    assert main([*args, "--data-root", str(data)]) == 0
    assert "train: 12 clips, 60 captions" in capsys.readouterr().out
    index = json.loads((data / "Clotho" / "Index" / "test.json").read_text())
    assert len(index["audios"]) == SIZES["test"]


def test_prepare_extract_then_run(clotho_folder, tmp_path, capsys):
    captions_dir, audio_dir = clotho_folder
    data, runs = tmp_path / "data", tmp_path / "runs"
    _prepare(captions_dir, data, capsys)
    assert main([*_extract_args(data, audio_dir, "lms"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "train: 12 clips, 12 written now, 12 stored" in out
    assert _stored(data / "Clotho" / "AudioExpert" / "lms" / "val" / "lms.h5") == {
        f"clip {i:02d}.wav" for i in range(12, 16)
    }
    run = ["run", "--dataset", "clotho", "--extractor", "lms", "--text-encoder", "word2vec"]
    run += ["--data-root", str(data), "--runs-dir", str(runs), "--no-progress"]
    assert main([*run, "--pooling", "mean", "--epochs", "2", "--batch-size", "8"]) == 0
    (record_path,) = runs.glob("*.json")
    record = json.loads(record_path.read_text())
    assert record["dataset"] == "clotho"
    assert record["sizes"]["test"] == {"clips": 4, "captions": 20}
    assert record["config"]["audio_frames"] == 90  # the Clotho protocol's lms length


def test_extract_with_a_missing_file_reports_it_and_exits_1(clotho_folder, tmp_path, capsys):
    captions_dir, audio_dir = clotho_folder
    data = tmp_path / "data"
    _prepare(captions_dir, data, capsys)
    (audio_dir / "clip 03.wav").unlink()
    (audio_dir / "clip 05.wav").write_bytes(b"not audio at all")
    assert main([*_extract_args(data, audio_dir, "lms"), "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "train/clip 03.wav" in out and "train/clip 05.wav" in out
    assert "train: 12 clips, 10 written now, 10 stored" in out


def test_extract_needs_a_known_extractor(clotho_folder, tmp_path, capsys):
    _, audio_dir = clotho_folder
    args = _extract_args(tmp_path / "data", audio_dir, "nosuch")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "unknown extractor 'nosuch'" in err and "panns_cnn14" in err


@pytest.mark.slow
def test_extraction_killed_half_way_finishes_the_rest(clotho_folder, tmp_path, capsys):
    """SIGKILL during a real (slow, 2048-d) extraction, then the same command again."""
    captions_dir, audio_dir = clotho_folder
    data = tmp_path / "data"
    _prepare(captions_dir, data, capsys)
    args = _extract_args(data, audio_dir, "panns_cnn14")
    command = [sys.executable, "-c", "import sys; from atr_bench.cli.main import main; "
               "sys.exit(main(sys.argv[1:]))", *args]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, env=env, text=True)
    seen = ""
    assert proc.stderr is not None
    while proc.poll() is None:
        seen += proc.stderr.read(1)
        done = [int(n) for n in re.findall(r"train: (\d+)clip", seen)]
        if done and done[-1] >= 3:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "extraction ended before it could be killed"
    train = data / "Clotho" / "AudioExpert" / "panns_cnn14" / "train" / "panns_cnn14.h5"
    kept = _stored(train)
    assert 3 <= len(kept) < SIZES["train"]
    assert main([*args, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"train: 12 clips, {12 - len(kept)} written now, 12 stored" in out
    assert len(_stored(train)) == SIZES["train"]


def test_features_of_random_weights_make_an_untrained_run(clotho_folder, tmp_path, capsys):
    captions_dir, audio_dir = clotho_folder
    data, runs = tmp_path / "data", tmp_path / "runs"
    _prepare(captions_dir, data, capsys)
    held_back = audio_dir / "clip 01.wav"
    held_back.rename(tmp_path / "clip 01.wav")
    assert main([*_extract_args(data, audio_dir, "vggish"), "--no-progress"]) == 1
    (tmp_path / "clip 01.wav").rename(held_back)
    checkpoint = tmp_path / "vggish-other.pth"
    torch.save(
        registry().get("extractor", "vggish").build(weights="random").state_dict(), checkpoint
    )
    other = [
        a if a != "random" else str(checkpoint) for a in _extract_args(data, audio_dir, "vggish")
    ]
    assert main([*other, "--no-progress"]) == 2
    assert "weights='random'" in capsys.readouterr().err
    assert main([*_extract_args(data, audio_dir, "vggish"), "--no-progress"]) == 0
    run = ["run", "--dataset", "clotho", "--extractor", "vggish", "--text-encoder", "word2vec"]
    run += ["--data-root", str(data), "--runs-dir", str(runs), "--no-progress"]
    assert main([*run, "--pooling", "mean", "--epochs", "1", "--batch-size", "8"]) == 0
    (record_path,) = runs.glob("*.json")
    record = json.loads(record_path.read_text())
    assert record["untrained"] is True
    assert record["features"]["train"] == {"extractor": "vggish", "weights": "random"}
