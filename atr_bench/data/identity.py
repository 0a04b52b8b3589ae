"""Which clips and captions a split held, as a digest two records can compare ("same test
set?"), and the clips a test split shares with its train split."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from atr_bench.errors import AtrBenchError
from atr_bench.plugins.contract import Clip


@dataclass(frozen=True)
class SplitDigest:
    """SHA-256 over a split's clip ids, sorted, each with its captions in order; and counts."""

    sha256: str
    clips: int
    captions: int

    @property
    def short(self) -> str:
        """The first 12 hex digits: how boards name a test set."""
        return self.sha256[:12]

    def as_dict(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "clips": self.clips, "captions": self.captions}


def split_digest(clips: Sequence[Clip]) -> SplitDigest:
    """The digest of a split's clips and captions; the order the index lists them in does not
    matter (sorted by id), the order of one clip's captions does (they are its text)."""
    pairs = sorted((clip.clip_id, list(clip.captions)) for clip in clips)
    text = json.dumps(pairs, ensure_ascii=False, separators=(",", ":"))
    return SplitDigest(
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        clips=len(pairs),
        captions=sum(len(captions) for _, captions in pairs),
    )


def shared_clips(a: Sequence[Clip], b: Sequence[Clip]) -> list[str]:
    """Clip ids in both splits, sorted."""
    return sorted({c.clip_id for c in a} & {c.clip_id for c in b})


ALLOW_OVERLAP = "--allow-overlap"
"""The flag that lets a run test on clips it trained on."""


def check_overlap(train: Sequence[Clip], test: Sequence[Clip], allow: bool) -> int:
    """How many test clips the train split also has; refused unless ``allow``."""
    shared = shared_clips(train, test)
    if shared and not allow:
        raise AtrBenchError(
            f"test split shares {len(shared)} clips with train (first: {shared[0]}); "
            f"pass {ALLOW_OVERLAP} to run anyway"
        )
    return len(shared)
