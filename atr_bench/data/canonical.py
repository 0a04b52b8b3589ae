"""The canonical splits of AudioCaps and Clotho as facts (clip ids and caption counts, no
captions), and how much of one a split covers: "test: AudioCaps 2.0, 957 of 975 clips, 4,785 of
4,875 captions". Clips vanish from YouTube, so every lab tests on a different subset; coverage
says which one. The facts ship as ``canonical_splits.json.gz`` (made by ``canonical_build``):
AudioCaps from ``cdjkim/audiocaps`` (MIT) at commit d004db3, ``dataset/{train,val,test}.csv``
as "AudioCaps original" and ``dataset2.0/{val,test}.csv`` as "AudioCaps 2.0" (its train.csv is
not in yet); Clotho v1's ``clotho_captions_{development,evaluation}.csv`` (2,893 and 1,045
clips, from a public copy of the official files; the file name and caption columns) as
"Clotho v1". Clotho's authors left the evaluation split unchanged in versions 2 and 2.1, so a
v2.1 test split matches "Clotho v1"; v2.1's validation split and its 946 further development
clips are not in yet."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from atr_bench.errors import AtrBenchError
from atr_bench.plugins.contract import Clip

FACTS_FILE = "canonical_splits.json.gz"
NO_MATCH = "no canonical match"


@dataclass(frozen=True)
class CanonicalSplit:
    """One split of one released version: its clip ids and each clip's caption count."""

    version: str
    """How reports name the version, e.g. ``AudioCaps 2.0``."""
    captions: Mapping[str, int]
    """Clip id -> captions the release gives it."""

    @property
    def n_clips(self) -> int:
        return len(self.captions)

    @property
    def n_captions(self) -> int:
        return sum(self.captions.values())


Facts = Mapping[str, Mapping[str, Sequence[CanonicalSplit]]]
"""Dataset name -> split -> the released versions of that split."""


def parse_facts(data: Any) -> dict[str, dict[str, list[CanonicalSplit]]]:
    """Facts from their JSON form ``{dataset: {version: {split: {"ids": [..], "captions":
    [..]}}}}``."""
    out: dict[str, dict[str, list[CanonicalSplit]]] = {}
    for dataset, versions in data.items():
        for version, splits in versions.items():
            for split, entry in splits.items():
                counts = dict(zip(entry["ids"], entry["captions"], strict=True))
                out.setdefault(dataset, {}).setdefault(split, []).append(
                    CanonicalSplit(version, counts)
                )
    return out


@functools.cache
def packaged_facts() -> Facts:
    """The facts shipped with the package."""
    blob = resources.files("atr_bench.data").joinpath(FACTS_FILE).read_bytes()
    try:
        return parse_facts(json.loads(gzip.decompress(blob)))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AtrBenchError(
            f"atr_bench/data/{FACTS_FILE}: unreadable ({exc}); reinstall atr-bench"
        ) from None


@dataclass(frozen=True)
class Coverage:
    """How much of a canonical split one split holds (``version`` None: it matches none)."""

    version: str | None
    clips: int = 0
    of_clips: int = 0
    captions: int = 0
    of_captions: int = 0
    missing: tuple[str, ...] = ()
    """Canonical clip ids the split lacks, sorted."""
    extra: int = 0
    """Clips of the split that the canonical one does not have."""

    @property
    def text(self) -> str:
        if self.version is None:
            return NO_MATCH
        return (
            f"{self.version}, {self.clips:,} of {self.of_clips:,} clips, "
            f"{self.captions:,} of {self.of_captions:,} captions"
            + (f", {self.extra:,} clips not in it" if self.extra else "")
        )


def _against(canonical: CanonicalSplit, clips: Sequence[Clip]) -> Coverage:
    held = {clip.clip_id: len(clip.captions) for clip in clips}
    known = canonical.captions
    return Coverage(
        version=canonical.version,
        clips=sum(1 for clip_id in held if clip_id in known),
        of_clips=canonical.n_clips,
        captions=sum(min(n, known[c]) for c, n in held.items() if c in known),
        of_captions=canonical.n_captions,
        missing=tuple(sorted(set(known) - set(held))),
        extra=sum(1 for clip_id in held if clip_id not in known),
    )


def coverage(facts: Facts, dataset: str, split: str, clips: Sequence[Clip]) -> Coverage:
    """The canonical version of ``split`` that ``clips`` match best (most clips held, then
    fewest missing). Versions with the very same ids and counts are named together
    (``AudioCaps original / AudioCaps 2.0``): the data cannot tell them apart."""
    found = [(c, _against(c, clips)) for c in facts.get(dataset, {}).get(split, ())]
    found = [(c, held) for c, held in found if held.clips > 0]
    if not found:
        return Coverage(None)
    canonical, best = max(found, key=lambda pair: (pair[1].clips, -len(pair[1].missing)))
    same = [c.version for c, _ in found if c.captions == canonical.captions]
    return dataclasses.replace(best, version=" / ".join(same))
