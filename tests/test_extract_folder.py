"""Feature extraction from a folder of real audio files: matching, reading, report, resume."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile
import torch

import atr_bench.data.extraction.extract_folder as extract_folder_module
from atr_bench.components.datasets.indexed import IndexedDataset, clotho
from atr_bench.data.extraction.extract_folder import extract_folder
from atr_bench.data.extraction.folder import AudioReadError, audio_files, match_files, read_audio
from atr_bench.data.index import ClipCaptions, write_clotho_json
from atr_bench.errors import AtrBenchError
from atr_bench.plugins.registry import registry

RATE = 16000
# clip id -> (file written, sample rate, channels, seconds); None: no file
CLIPS: dict[str, tuple[str, int, int, float] | None] = {
    "a tone.wav": ("a tone.wav", 16000, 1, 1.0),
    "b stereo.wav": ("nested/b stereo.flac", 44100, 2, 1.5),
    "c.wav": ("c.ogg", 22050, 1, 0.8),
    "d upper.wav": ("nested/deeper/d upper.WAV", 8000, 1, 1.2),
    "e.wav": ("e.wav", 48000, 1, 0.6),
    "broken.wav": ("broken.wav", 0, 0, 0.0),
    "missing.wav": None,
}
SPLIT_OF = {
    "train": ["a tone.wav", "b stereo.wav", "broken.wav", "c.wav", "d upper.wav", "missing.wav"],
    "val": ["e.wav"],
    "test": ["a tone.wav"],
}


def _tone(rate: int, channels: int, seconds: float, freq: float = 440.0) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    wave = 0.5 * np.sin(2 * np.pi * freq * t)
    return np.stack([wave * (c + 1) / channels for c in range(channels)], axis=1)


def _make_dataset(tmp_path: Path) -> tuple[IndexedDataset, Path]:
    audio = tmp_path / "audio"
    for entry in CLIPS.values():
        if entry is None:
            continue
        name, rate, channels, seconds = entry
        path = audio / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if rate == 0:
            path.write_bytes(b"RIFF\x00\x00 this is not audio" * 10)
        else:
            soundfile.write(path, _tone(rate, channels, seconds), rate, subtype=None)
    dataset = clotho(tmp_path / "data")
    for split, ids in SPLIT_OF.items():
        clips = [ClipCaptions(c, (f"sound of {c}",) * 5) for c in ids]
        write_clotho_json(dataset.layout.index_json(split), clips)
    return dataset, audio


@pytest.fixture
def lms():
    return registry().get("extractor", "lms")


def _stored(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as handle:
        return {name: handle[name][()] for name in handle if isinstance(handle[name], h5py.Dataset)}


def test_read_audio_downmixes_and_resamples(tmp_path: Path) -> None:
    path = tmp_path / "stereo.flac"
    soundfile.write(path, _tone(44100, 2, 1.0, freq=1000.0), 44100)
    wave = read_audio(path, RATE)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert len(wave) == pytest.approx(RATE, abs=2)
    peak_hz = np.argmax(np.abs(np.fft.rfft(wave))) * RATE / len(wave)
    assert peak_hz == pytest.approx(1000.0, abs=2)
    # channels 0.25 and 0.5 amplitude: the mean has amplitude 0.375
    assert np.abs(wave[1000:-1000]).max() == pytest.approx(0.375, abs=0.01)


def test_read_audio_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not a wave file at all")
    with pytest.raises(AudioReadError) as err:
        read_audio(bad, RATE)
    assert err.value.path == bad and err.value.reason
    with pytest.raises(AudioReadError, match="cannot read audio"):
        read_audio(tmp_path / "absent.wav", RATE)


def test_match_filename_style(tmp_path: Path) -> None:
    names = ["x.wav", "x.flac", "sub/y.WAV", "z.OGG", "notes.txt", "w.flac", "w.ogg"]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    files = audio_files(tmp_path)
    assert tmp_path / "notes.txt" not in files
    found = match_files(["x.wav", "y.wav", "z", "q.wav"], files, "filename")
    assert found == {
        "x.wav": tmp_path / "x.wav",  # the exact name beats x.flac
        "y.wav": tmp_path / "sub/y.WAV",
        "z": tmp_path / "z.OGG",
    }
    with pytest.raises(AtrBenchError, match=r"clip 'w.wav' matches 2 audio files"):
        match_files(["w.wav"], files, "filename")


def test_match_youtube_style(tmp_path: Path) -> None:
    names = [
        "Yabcdefghijk.wav",
        "bcdefghij-l_30.000_40.000.flac",
        "cdefghijklm_10.wav",
        "de_ghijklmn_20_30.wav",
        "Yefghijklmno_5.ogg",
        "unrelated.wav",
    ]
    for name in names:
        (tmp_path / name).touch()
    ids = ["abcdefghijk", "bcdefghij-l", "cdefghijklm", "de_ghijklmn", "efghijklmno", "nofile00000"]
    found = match_files(ids, audio_files(tmp_path), "youtube")
    assert {c: p.name for c, p in found.items()} == {
        "abcdefghijk": "Yabcdefghijk.wav",
        "bcdefghij-l": "bcdefghij-l_30.000_40.000.flac",
        "cdefghijklm": "cdefghijklm_10.wav",
        "de_ghijklmn": "de_ghijklmn_20_30.wav",
        "efghijklmno": "Yefghijklmno_5.ogg",
    }


def test_extract_folder_writes_readable_clips_and_reports_the_rest(tmp_path: Path, lms) -> None:
    dataset, audio = _make_dataset(tmp_path)
    report = extract_folder(dataset, lms, {}, audio, batch_size=2, progress=False)

    assert report.written == {"train": 4, "val": 1, "test": 1}
    assert report.stored == {"train": 4, "val": 1, "test": 1}
    assert [(p.split, p.clip_id, p.path) for p in report.missing] == [
        ("train", "missing.wav", None)
    ]
    assert [(p.split, p.clip_id, p.path) for p in report.unreadable] == [
        ("train", "broken.wav", audio / "broken.wav")
    ]
    assert not report.complete
    summary = report.summary()
    assert "train: 6 clips, 4 written now, 4 stored" in summary
    assert "train/missing.wav" in summary and str(audio / "broken.wav") in summary

    model = lms.build()
    for split, ids in SPLIT_OF.items():
        stored = _stored(dataset.layout.features("lms", split))
        readable = [c for c in ids if c not in ("broken.wav", "missing.wav")]
        assert sorted(stored) == sorted(readable)
        for clip_id in readable:
            _, rate, _, seconds = CLIPS[clip_id]
            n = math.ceil(round(rate * seconds) * RATE / rate)  # length after resampling
            assert stored[clip_id].shape == (model.frames_for(n), model.dim)
            assert abs(stored[clip_id].shape[0] - seconds * lms.frames_per_second) <= 1
    # a 16 kHz file goes in untouched: same features as running lms on its samples
    wave, _ = soundfile.read(audio / "a tone.wav", dtype="float32")
    with torch.no_grad():
        direct = model(torch.from_numpy(wave)[None])[0].numpy()
    got = _stored(dataset.layout.features("lms", "train"))["a tone.wav"]
    np.testing.assert_allclose(got, direct[: got.shape[0]], atol=1e-4)


def test_interrupted_extraction_resumes(tmp_path: Path, lms, monkeypatch) -> None:
    dataset, audio = _make_dataset(tmp_path)
    calls: list[Path] = []
    lock = threading.Lock()

    def interrupting(path: Path, sample_rate: int) -> np.ndarray:
        with lock:
            calls.append(path)
            if len(calls) == 4:
                raise KeyboardInterrupt
        return read_audio(path, sample_rate)

    monkeypatch.setattr(extract_folder_module, "read_audio", interrupting)
    with pytest.raises(KeyboardInterrupt):
        extract_folder(dataset, lms, {}, audio, batch_size=2, progress=False, workers=1)
    train = dataset.layout.features("lms", "train")
    first = _stored(train)
    assert set(first) == {"a tone.wav", "b stereo.wav"}  # the first full batch survived

    rerun: list[Path] = []

    def recording(path: Path, sample_rate: int) -> np.ndarray:
        with lock:
            rerun.append(path)
        return read_audio(path, sample_rate)

    monkeypatch.setattr(extract_folder_module, "read_audio", recording)
    report = extract_folder(dataset, lms, {}, audio, batch_size=2, progress=False)

    assert audio / "a tone.wav" in rerun  # for the test split only
    assert rerun.count(audio / "a tone.wav") == 1
    assert audio / "nested/b stereo.flac" not in rerun
    assert report.written == {"train": 2, "val": 1, "test": 1}
    assert report.stored == {"train": 4, "val": 1, "test": 1}
    after = _stored(train)
    assert sorted(after) == ["a tone.wav", "b stereo.wav", "c.wav", "d upper.wav"]
    for clip_id, features in first.items():
        np.testing.assert_array_equal(after[clip_id], features)

    again = extract_folder(dataset, lms, {}, audio, progress=False)
    assert again.written == {"train": 0, "val": 0, "test": 0}
    assert len(again.unreadable) == 1 and len(again.missing) == 1


def test_empty_audio_folder_is_an_error(tmp_path: Path, lms) -> None:
    dataset, _ = _make_dataset(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(AtrBenchError, match=r"empty: no \.wav/\.flac/\.ogg files found"):
        extract_folder(dataset, lms, {}, tmp_path / "empty", progress=False)
    with pytest.raises(AtrBenchError, match="audio folder not found"):
        extract_folder(dataset, lms, {}, tmp_path / "nowhere", progress=False)
