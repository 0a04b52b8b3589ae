"""Make ``canonical_splits.json.gz`` from the official caption files: clip ids and caption counts
per split, no captions.

    python -m atr_bench.data.canonical_build --out atr_bench/data/canonical_splits.json.gz \\
        --audiocaps "AudioCaps original=audiocaps/dataset" \\
        --audiocaps "AudioCaps 2.0=audiocaps/dataset2.0" \\
        --clotho "Clotho v2.1=clotho-captions"

An AudioCaps folder holds ``train.csv``, ``val.csv``, ``test.csv`` (``cdjkim/audiocaps``; clips
are youtube ids, as in this project's Index CSV); a Clotho folder the
``clotho_captions_{development,validation,evaluation}.csv`` files (clips are file names). A
split whose file is absent is left out of that version.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from atr_bench.data.index import ClipCaptions, read_audiocaps_csv
from atr_bench.data.prepare import AUDIOCAPS_FILES, CLOTHO_FILES, read_clotho_captions
from atr_bench.errors import AtrBenchError
from atr_bench.files.atomic import atomic_write

FILES = {"audiocaps": AUDIOCAPS_FILES, "clotho": CLOTHO_FILES}
"""Each dataset's official caption file per split."""


def _read(dataset: str, path: Path) -> list[ClipCaptions]:
    return read_audiocaps_csv(path) if dataset == "audiocaps" else read_clotho_captions(path)


def version_facts(dataset: str, folder: Path) -> dict[str, dict[str, list[Any]]]:
    """``{split: {"ids": [...], "captions": [...]}}`` of one release in ``folder``, ids sorted."""
    files = FILES[dataset]
    out: dict[str, dict[str, list[Any]]] = {}
    for split, name in files.items():
        if not (folder / name).is_file():
            continue
        clips = _read(dataset, folder / name)
        counts = sorted((clip.clip_id, len(clip.captions)) for clip in clips)
        out[split] = {"ids": [c for c, _ in counts], "captions": [n for _, n in counts]}
    if not out:
        raise AtrBenchError(
            f"{folder}: none of {', '.join(files.values())} found; give the folder of the "
            f"official {dataset} caption files"
        )
    return out


def build_facts(releases: Mapping[str, Sequence[tuple[str, Path]]], out: Path) -> Path:
    """Write the facts of ``releases`` (dataset -> (version label, folder)) to ``out``,
    gzip-compressed JSON with no time stamp, so the same sources give the same bytes."""
    facts = {
        dataset: {label: version_facts(dataset, Path(folder)) for label, folder in versions}
        for dataset, versions in releases.items()
    }
    blob = gzip.compress(json.dumps(facts, separators=(",", ":")).encode(), mtime=0)
    return atomic_write(Path(out), lambda tmp: tmp.write_bytes(blob))


def _release(text: str) -> tuple[str, Path]:
    label, sep, folder = text.partition("=")
    if not sep or not label.strip() or not folder:
        raise argparse.ArgumentTypeError(f"expected LABEL=FOLDER, got {text!r}")
    return label.strip(), Path(folder)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    for dataset in FILES:
        parser.add_argument(f"--{dataset}", type=_release, action="append", default=[])
    args = parser.parse_args(argv)
    releases = {d: getattr(args, d) for d in FILES if getattr(args, d)}
    try:
        path = build_facts(releases, args.out)
    except AtrBenchError as exc:
        print(f"canonical_build: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
