"""Index files: which clips a split has and their captions (AudioCaps CSV, Clotho JSON)."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atr_bench.errors import AtrBenchError
from atr_bench.files.atomic import Writer, atomic_write, write_json
from atr_bench.files.names import clip_id_problem
from atr_bench.files.reading import check_regular, read_json

AUDIOCAPS_COLUMNS = ("audiocap_id", "youtube_id", "start_time", "caption")
_CAPTION_KEY = re.compile(r"caption_(\d+)")


@dataclass(frozen=True)
class ClipCaptions:
    """One clip of a split and the captions that describe it."""

    clip_id: str
    captions: tuple[str, ...]


def _check_clips(
    path: Path, clips: Iterable[ClipCaptions], empty_captions: bool = False
) -> list[ClipCaptions]:
    """Every clip has an id and captions (non-empty unless ``empty_captions``), and no id
    appears twice."""
    seen: set[str] = set()
    out = []
    for clip in clips:
        if not isinstance(clip.clip_id, str) or not clip.clip_id:
            raise AtrBenchError(f"{path}: a clip has an empty or non-string id; fix the index")
        if (problem := clip_id_problem(clip.clip_id)) is not None:
            raise AtrBenchError(f"{path}: clip id {clip.clip_id!r} {problem}; fix the index")
        if clip.clip_id in seen:
            raise AtrBenchError(f"{path}: duplicate clip id {clip.clip_id!r}; fix the index")
        if not clip.captions:
            raise AtrBenchError(f"{path}: clip {clip.clip_id!r} has no captions; fix the index")
        for caption in clip.captions:
            if not isinstance(caption, str) or not (caption.strip() or empty_captions):
                raise AtrBenchError(
                    f"{path}: clip {clip.clip_id!r} has an empty caption; fix the index"
                )
        seen.add(clip.clip_id)
        out.append(clip)
    return out


def _missing(path: Path) -> AtrBenchError:
    return AtrBenchError(
        f"{path}: index file not found; put the dataset's Index files there (seed layout)"
    )


def read_audiocaps_csv(path: Path, empty_captions: bool = False) -> list[ClipCaptions]:
    """AudioCaps index (audiocap_id, youtube_id, start_time, caption): one row per caption,
    grouped by clip (= youtube_id) in order of first appearance. An empty caption is an error
    unless ``empty_captions`` (``data check`` reads them to report them)."""
    path = check_regular(Path(path), "put the index file there")
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in AUDIOCAPS_COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise AtrBenchError(
                    f"{path}: missing column(s) {', '.join(missing)}; an AudioCaps index needs "
                    f"{', '.join(AUDIOCAPS_COLUMNS)}"
                )
            grouped: dict[str, list[str]] = {}
            caption_ids: set[str] = set()
            for row in reader:
                where = f"{path}, line {reader.line_num}"
                clip_id, caption, cap_id = row["youtube_id"], row["caption"], row["audiocap_id"]
                if not clip_id or not clip_id.strip():
                    raise AtrBenchError(f"{where}: empty youtube_id; fix the index")
                if caption is None or not (caption.strip() or empty_captions):
                    raise AtrBenchError(f"{where}: empty caption for clip {clip_id!r}")
                if cap_id and cap_id in caption_ids:
                    raise AtrBenchError(f"{where}: duplicate audiocap_id {cap_id!r}")
                caption_ids.add(cap_id)
                grouped.setdefault(clip_id, []).append(caption)
    except FileNotFoundError:
        raise _missing(path) from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise AtrBenchError(f"{path}: not a readable CSV file ({exc}); fix the index") from None
    return [ClipCaptions(clip, tuple(caps)) for clip, caps in grouped.items()]


def write_audiocaps_csv(path: Path, rows: Sequence[ClipCaptions]) -> Path:
    """Atomically write an AudioCaps-style index, one row per caption. ClipCaptions carries no
    caption ids or start times, so audiocap_id is the 1-based row number and start_time 0."""
    path = Path(path)
    clips = _check_clips(path, rows)

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(AUDIOCAPS_COLUMNS)
            row_id = 0
            for clip in clips:
                for caption in clip.captions:
                    row_id += 1
                    writer.writerow((row_id, clip.clip_id, 0, caption))

    return atomic_write(path, write)


def _clotho_entry(path: Path, position: int, entry: Any) -> ClipCaptions:
    if not isinstance(entry, dict) or "audio_id" not in entry:
        raise AtrBenchError(f"{path}: audios[{position}] has no 'audio_id'; fix the index")
    clip_id = entry["audio_id"]
    if "captions" in entry:
        captions = entry["captions"]
        if not isinstance(captions, list):
            raise AtrBenchError(f"{path}: captions of clip {clip_id!r} are not a list")
    else:
        numbered = sorted(
            (int(m.group(1)), key) for key in entry if (m := _CAPTION_KEY.fullmatch(key))
        )
        if not numbered:
            raise AtrBenchError(
                f"{path}: clip {clip_id!r} has neither 'captions' nor 'caption_1'..; fix the index"
            )
        captions = [entry[key] for _, key in numbered]
    return ClipCaptions(clip_id, tuple(captions))


def read_clotho_json(path: Path, empty_captions: bool = False) -> list[ClipCaptions]:
    """Clotho-style index ``{"audios": [{"audio_id": ..., "captions": [...]}]}`` (or with
    ``caption_1``..``caption_5`` keys instead of ``captions``); an empty caption is an error
    unless ``empty_captions``."""
    path = Path(path)
    try:
        data = read_json(path, "index (not valid JSON)", "fix or regenerate it")
    except FileNotFoundError:
        raise _missing(path) from None
    if not isinstance(data, dict) or not isinstance(data.get("audios"), list):
        raise AtrBenchError(f"{path}: expected an object with an 'audios' list; fix the index")
    clips = (_clotho_entry(path, i, entry) for i, entry in enumerate(data["audios"]))
    return _check_clips(path, clips, empty_captions)


def write_clotho_json(
    path: Path, clips: Sequence[ClipCaptions], write: Writer = atomic_write
) -> Path:
    """Atomically write a Clotho-style JSON index (through ``write``)."""
    path = Path(path)
    entries = [
        {"audio_id": clip.clip_id, "captions": list(clip.captions)}
        for clip in _check_clips(path, clips)
    ]
    return write_json(path, {"audios": entries}, write)
