"""Real audio on disk: find each clip's file in a folder and read it as mono float32 at a rate.

Matching rules (file extensions .wav, .flac, .ogg in any case; the folder is searched
recursively, so the official sub-folders may stay as they are):

- ``filename`` style (Clotho, where clip ids are file names such as ``"foo bar.wav"``): a file
  whose name equals the clip id, or whose name without extension equals the id without its
  audio extension (``foo bar.flac`` or ``foo bar.WAV`` also serve ``"foo bar.wav"``).
- ``youtube`` style (AudioCaps, where clip ids are YouTube ids): a file whose name without
  extension is ``<id>`` or ``Y<id>`` (AudioSet downloads), optionally followed by the clip's
  start (and end) time in seconds: ``<id>_30``, ``<id>_30.000_40.000``, ``Y<id>_30_40``.

An exact name beats a looser match; two files matching one clip equally well are an error,
since picking one silently could extract the wrong recording.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import librosa
import numpy as np
import soundfile

from atr_bench.errors import AtrBenchError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
STYLES = ("filename", "youtube")
_TIME_SUFFIX = re.compile(r"_\d+(?:\.\d+)?$")
_SHOW = 3


class AudioReadError(AtrBenchError):
    """An audio file that cannot be read or decoded; ``path`` and ``reason`` say which and why."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: cannot read audio ({reason}); replace or re-download the file")
        self.path = Path(path)
        self.reason = reason


def audio_files(audio_dir: Path) -> list[Path]:
    """Every audio file under ``audio_dir`` (recursively, sorted for a stable order)."""
    audio_dir = Path(audio_dir)
    if not audio_dir.is_dir():
        raise AtrBenchError(f"{audio_dir}: audio folder not found; pass the folder of the clips")
    found = (p for p in audio_dir.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
    return sorted(p for p in found if p.is_file())


def _candidates(path: Path, style: str) -> list[str]:
    """Clip ids a file may stand for, best match first."""
    if style == "filename":
        return [path.name, path.stem]
    names = [path.stem]
    for _ in range(2):  # strip "_<end>" then "_<start>"
        shorter = _TIME_SUFFIX.sub("", names[-1])
        if shorter == names[-1] or not shorter:
            break
        names.append(shorter)
    return names + [n[1:] for n in names if n.startswith("Y") and len(n) > 1]


def _lookup_key(clip_id: str, style: str) -> str:
    """What a ``filename``-style id is compared with at the looser level: its stem."""
    if style == "filename" and Path(clip_id).suffix.lower() in AUDIO_EXTENSIONS:
        return clip_id[: -len(Path(clip_id).suffix)]
    return clip_id


def match_files(clip_ids: Iterable[str], files: Iterable[Path], style: str) -> dict[str, Path]:
    """Map each clip id that has a file to it (see the module docstring for the rules); ids
    without a file are absent from the result."""
    if style not in STYLES:
        raise AtrBenchError(f"unknown file matching style {style!r}; use one of {STYLES}")
    wanted = set(clip_ids)
    loose: dict[str, list[str]] = {}
    for clip_id in wanted:
        loose.setdefault(_lookup_key(clip_id, style), []).append(clip_id)
    best: dict[str, tuple[int, list[Path]]] = {}
    for path in files:
        for rank, name in enumerate(_candidates(path, style)):
            if style == "filename" and rank > 0:
                hits = loose.get(name, [])
            else:
                hits = [name] if name in wanted else []
            for clip_id in hits:
                held = best.get(clip_id)
                if held is None or rank < held[0]:
                    best[clip_id] = (rank, [path])
                elif rank == held[0] and path not in held[1]:
                    held[1].append(path)
            if hits:
                break
    for clip_id, (_, paths) in best.items():
        if len(paths) > 1:
            shown = ", ".join(str(p) for p in paths[:_SHOW])
            raise AtrBenchError(
                f"clip {clip_id!r} matches {len(paths)} audio files ({shown}); keep one of them "
                "or point --audio-dir at a folder holding one copy"
            )
    return {clip_id: paths[0] for clip_id, (_, paths) in best.items()}


def read_audio(path: Path, sample_rate: int) -> np.ndarray:
    """A file's samples as float32 mono at ``sample_rate`` (channels averaged, resampled with
    soxr when the file's rate differs). Any failure raises :class:`AudioReadError`."""
    try:
        data, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (soundfile.SoundFileError, RuntimeError, OSError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AudioReadError(path, reason) from None
    if data.shape[0] == 0:
        raise AudioReadError(path, "no samples")
    wave = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    if not np.isfinite(wave).all():
        raise AudioReadError(path, "NaN or inf samples")
    if rate != sample_rate:
        wave = librosa.resample(wave, orig_sr=rate, target_sr=sample_rate, res_type="soxr_hq")
    return np.ascontiguousarray(wave, dtype=np.float32)
