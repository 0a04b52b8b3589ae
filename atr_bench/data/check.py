"""``atr-bench data check``: what a run would silently trust about a dataset's splits. Per split,
its canonical version match and coverage; across splits, clips shared by id or by identical
features and captions shared; empty captions; clips whose features are constant or not finite.

Shared clips, empty captions and bad features are problems; coverage and captions that recur
across splits are reported only (clips vanish from YouTube, and short captions such as "a man
speaks" recur in every release)."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from atr_bench.data.canonical import Facts, coverage
from atr_bench.data.feature_store import open_for_reading
from atr_bench.data.index import read_audiocaps_csv, read_clotho_json
from atr_bench.data.layout import SPLITS
from atr_bench.plugins.contract import Clip, Dataset

Progress = Callable[[Iterable[str], int, str], Iterable[str]]
"""Wraps a loop over clip ids with a progress bar: (ids, total, label) -> ids."""


@dataclass(frozen=True)
class Finding:
    """One line of the check; ``problem`` ones make it fail."""

    text: str
    problem: bool = False

    @property
    def line(self) -> str:
        return f"PROBLEM: {self.text}" if self.problem else self.text


@dataclass(frozen=True)
class CheckReport:
    """What ``check_dataset`` found."""

    findings: tuple[Finding, ...]

    @property
    def problems(self) -> int:
        return sum(f.problem for f in self.findings)

    def lines(self) -> list[str]:
        tail = f"{self.problems} problems found" if self.problems else "no problems found"
        return [f.line for f in self.findings] + [tail]


def read_clips(dataset: Dataset, split: str) -> list[Clip]:
    """A split's clips with empty captions kept (the index readers refuse them), from the seed
    layout's Index file where there is one, else from the dataset."""
    layout = dataset.layout
    csv, json = layout.path / "Index" / f"{split}.csv", layout.path / "Index" / f"{split}.json"
    if csv.exists():
        return list(read_audiocaps_csv(csv, empty_captions=True))
    if json.exists():
        return list(read_clotho_json(json, empty_captions=True))
    return list(dataset.clips(split))


def _ids(ids: Sequence[str]) -> str:
    return f"first: {', '.join(ids[:5])}" + (", ..." if len(ids) > 5 else "")


def split_findings(name: str, clips: Mapping[str, Sequence[Clip]], facts: Facts) -> list[Finding]:
    """Each split's size and, for a dataset with canonical splits, its coverage and the
    canonical clips it lacks."""
    out = []
    for split, split_clips in clips.items():
        text = f"{split}: {len(split_clips):,} clips, "
        text += f"{sum(len(c.captions) for c in split_clips):,} captions"
        if name in facts:
            found = coverage(facts, name, split, split_clips)
            text += f"; {found.text}"
            if found.missing:
                text += f"; {len(found.missing):,} missing ({_ids(found.missing)})"
        out.append(Finding(text))
    return out


def shared_ids(clips: Mapping[str, Sequence[Clip]]) -> list[Finding]:
    """Clip ids in more than one split."""
    ids = {split: {c.clip_id for c in split_clips} for split, split_clips in clips.items()}
    out = []
    for a, b in itertools.combinations(ids, 2):
        shared = sorted(ids[a] & ids[b])
        if shared:
            out.append(Finding(f"{a} and {b} share {len(shared)} clips ({_ids(shared)})", True))
    return out


def _normal(caption: str) -> str:
    return " ".join(caption.lower().split()).rstrip(".")


def caption_findings(clips: Mapping[str, Sequence[Clip]]) -> list[Finding]:
    """Empty captions (a problem), and captions that appear in more than one split."""
    empty = [
        f"{split}/{c.clip_id}"
        for split, split_clips in clips.items()
        for c in split_clips
        if any(not caption.strip() for caption in c.captions)
    ]
    out = []
    if empty:
        out.append(Finding(f"{len(empty)} clips with an empty caption ({_ids(empty)})", True))
    where: dict[str, set[str]] = {}
    for split, split_clips in clips.items():
        for clip in split_clips:
            for caption in clip.captions:
                if caption.strip():
                    where.setdefault(_normal(caption), set()).add(split)
    shared = sorted(c for c, splits in where.items() if len(splits) > 1)
    if shared:
        first = ", ".join(repr(c) for c in shared[:3]) + (", ..." if len(shared) > 3 else "")
        out.append(Finding(f"{len(shared)} captions appear in more than one split ({first})"))
    return out


def feature_findings(
    path: Path, where: str, ids: Sequence[str], progress: Progress
) -> tuple[list[Finding], dict[str, str]]:
    """Clips of ``ids`` without features, or with constant or non-finite ones, in the feature
    file ``path`` (``where``: ``<extractor>/<split>``, as findings name it); and each clip's
    digest of its feature rows (shape and bytes)."""
    missing, constant, broken = [], [], []
    digests = {}
    with open_for_reading(path) as handle:
        for clip_id in progress(ids, len(ids), where):
            if clip_id not in handle:
                missing.append(clip_id)
                continue
            rows = np.asarray(handle[clip_id][()])
            digest = hashlib.sha256(repr(rows.shape).encode() + rows.tobytes())
            digests[clip_id] = digest.hexdigest()
            if not np.isfinite(rows).all():
                broken.append(clip_id)
            elif rows.size and (rows == rows.flat[0]).all():
                constant.append(clip_id)
    found = (
        (missing, "have no features"),
        (constant, "have constant features"),
        (broken, "have NaN or inf features"),
    )
    return [
        Finding(f"{where}: {len(clip_ids)} clips {what} ({_ids(clip_ids)})", True)
        for clip_ids, what in found
        if clip_ids
    ], digests


def identical_features(extractor: str, digests: Mapping[str, Mapping[str, str]]) -> list[Finding]:
    """Clips of two splits whose feature rows are identical (the same audio under two ids)."""
    out = []
    for a, b in itertools.combinations(digests, 2):
        by_digest = {d: clip_id for clip_id, d in digests[a].items()}
        pairs = digests[b].items()
        same = sorted(f"{by_digest[d]}={clip_id}" for clip_id, d in pairs if d in by_digest)
        if same:
            out.append(
                Finding(
                    f"{a} and {b} share {len(same)} clips by identical {extractor} features "
                    f"({_ids(same)})",
                    True,
                )
            )
    return out


def check_dataset(
    dataset: Dataset, extractors: Sequence[str], facts: Facts, progress: Progress
) -> CheckReport:
    """Every check on ``dataset``, and on the feature files of ``extractors`` that exist."""
    clips = {split: read_clips(dataset, split) for split in SPLITS}
    findings = [Finding(f"{dataset.name} at {dataset.layout.path}")]
    findings += split_findings(dataset.name, clips, facts)
    findings += shared_ids(clips)
    findings += caption_findings(clips)
    for extractor in extractors:
        digests = {}
        for split, split_clips in clips.items():
            path = dataset.layout.features(extractor, split)
            if path.exists():
                ids = [c.clip_id for c in split_clips]
                where = f"{extractor}/{split}"
                found, digests[split] = feature_findings(path, where, ids, progress)
                findings += found
        findings += identical_features(extractor, digests)
    return CheckReport(tuple(findings))


def no_progress(ids: Iterable[str], total: int, label: str) -> Iterable[str]:
    """A ``Progress`` that shows nothing."""
    return ids
