"""Build a dataset's Index files (seed layout) from the caption files its authors publish.

Clotho v2 (the version the paper uses): ``clotho_captions_development.csv`` -> train,
``clotho_captions_validation.csv`` -> val, ``clotho_captions_evaluation.csv`` -> test, each with
columns file_name, caption_1..caption_5, written as ``Index/<split>.json``.
AudioCaps: ``train.csv``, ``val.csv``, ``test.csv`` (audiocap_id, youtube_id, start_time,
caption), copied as ``Index/<split>.csv`` keeping caption ids and start times.
Every source is checked, and every Index file made complete, before any is replaced: a bad file
leaves the index as it was.
Nothing is downloaded: the user fetches the official files.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from atr_bench.data.index import (
    AUDIOCAPS_COLUMNS,
    ClipCaptions,
    read_audiocaps_csv,
    write_clotho_json,
)
from atr_bench.data.layout import DatasetLayout
from atr_bench.errors import AtrBenchError
from atr_bench.files.atomic import Writer, replaced_together

CLOTHO_FILES = {
    "train": "clotho_captions_development.csv",
    "val": "clotho_captions_validation.csv",
    "test": "clotho_captions_evaluation.csv",
}
AUDIOCAPS_FILES = {"train": "train.csv", "val": "val.csv", "test": "test.csv"}
CLOTHO_CAPTIONS = tuple(f"caption_{i}" for i in range(1, 6))
_CAPTION_COLUMN = re.compile(r"caption_(\d+)")


@dataclass(frozen=True)
class PrepareReport:
    """The Index files written and how many clips and captions each split has."""

    dataset: str
    files: Mapping[str, Path]
    clips: Mapping[str, int]
    captions: Mapping[str, int]

    def summary(self) -> str:
        lines = [f"{self.dataset} index:"]
        for split, path in self.files.items():
            lines.append(
                f"  {split}: {self.clips[split]} clips, {self.captions[split]} captions -> {path}"
            )
        return "\n".join(lines)


def _sources(captions_dir: Path, names: Mapping[str, str], dataset: str) -> dict[str, Path]:
    """The official caption files, all of which must exist."""
    captions_dir = Path(captions_dir)
    for name in names.values():
        if not (captions_dir / name).is_file():
            expected = ", ".join(names.values())
            raise AtrBenchError(
                f"{captions_dir / name}: not found; {dataset} preparation needs the official "
                f"caption files {expected} in {captions_dir}"
            )
    return {split: captions_dir / name for split, name in names.items()}


def _read_csv(
    path: Path, required: tuple[str, ...]
) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header and (line number, row) pairs of a caption CSV, required columns checked."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = list(reader.fieldnames or ())
            missing = [c for c in required if c not in header]
            if missing:
                raise AtrBenchError(
                    f"{path}: missing column(s) {', '.join(missing)}; expected the official "
                    f"columns {', '.join(required)}"
                )
            return header, [(reader.line_num, row) for row in reader]
    except (csv.Error, UnicodeDecodeError) as exc:
        raise AtrBenchError(f"{path}: not a readable UTF-8 CSV file ({exc})") from None


def read_clotho_captions(path: Path) -> list[ClipCaptions]:
    """One official Clotho caption CSV as clips (captions in column order caption_1, ...)."""
    header, rows = _read_csv(path, ("file_name", *CLOTHO_CAPTIONS))
    columns = sorted(
        (int(m.group(1)), name) for name in header if (m := _CAPTION_COLUMN.fullmatch(name))
    )
    clips: list[ClipCaptions] = []
    seen: set[str] = set()
    for line, row in rows:
        clip_id = (row["file_name"] or "").strip()
        if not clip_id:
            raise AtrBenchError(f"{path}, line {line}: empty file_name; fix the caption file")
        if clip_id in seen:
            raise AtrBenchError(f"{path}, line {line}: file_name {clip_id!r} appears twice")
        captions = tuple((row[name] or "").strip() for _, name in columns)
        for (_, name), caption in zip(columns, captions, strict=True):
            if not caption:
                raise AtrBenchError(
                    f"{path}, line {line}: empty {name} for {clip_id!r}; fix the caption file"
                )
        seen.add(clip_id)
        clips.append(ClipCaptions(clip_id, captions))
    if not clips:
        raise AtrBenchError(f"{path}: no clips; expected Clotho's official caption file")
    return clips


def prepare_clotho(captions_dir: Path, layout: DatasetLayout) -> PrepareReport:
    """Write ``Index/{train,val,test}.json`` from Clotho v2's official caption CSVs."""
    sources = _sources(captions_dir, CLOTHO_FILES, "Clotho")
    splits = {split: read_clotho_captions(path) for split, path in sources.items()}
    with replaced_together() as write:
        files = {
            split: write_clotho_json(layout.index_json(split), c, write)
            for split, c in splits.items()
        }
    return PrepareReport(
        dataset="clotho",
        files=files,
        clips={s: len(c) for s, c in splits.items()},
        captions={s: sum(len(clip.captions) for clip in c) for s, c in splits.items()},
    )


def _write_audiocaps(path: Path, rows: list[tuple[int, dict[str, str]]], write: Writer) -> Path:
    def fill(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(AUDIOCAPS_COLUMNS)
            writer.writerows([row[c] for c in AUDIOCAPS_COLUMNS] for _, row in rows)

    return write(path, fill)


def prepare_audiocaps(captions_dir: Path, layout: DatasetLayout) -> PrepareReport:
    """Write ``Index/{train,val,test}.csv`` from AudioCaps' official train/val/test CSVs."""
    sources = _sources(captions_dir, AUDIOCAPS_FILES, "AudioCaps")
    clips: dict[str, list[ClipCaptions]] = {}
    rows: dict[str, list[tuple[int, dict[str, str]]]] = {}
    for split, path in sources.items():
        _, rows[split] = _read_csv(path, AUDIOCAPS_COLUMNS)
        clips[split] = read_audiocaps_csv(path)  # checks ids and captions, line by line
        if not clips[split]:
            raise AtrBenchError(f"{path}: no captions; expected AudioCaps' official {path.name}")
    with replaced_together() as write:
        files = {
            split: _write_audiocaps(layout.index_csv(split), r, write) for split, r in rows.items()
        }
    return PrepareReport(
        dataset="audiocaps",
        files=files,
        clips={s: len(c) for s, c in clips.items()},
        captions={s: len(r) for s, r in rows.items()},
    )
