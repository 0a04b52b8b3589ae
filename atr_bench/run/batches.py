"""The built-in batchings (``contract.Batching``): what a training batch holds. ``clips``: clips
in random order, each with all of its captions (the paper's code); ``pairs``: (caption, clip)
pairs in random order. Registered by ``components.training_parts``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from atr_bench.data.split import SplitData
from atr_bench.plugins.contract import Batching


@dataclass(frozen=True)
class CaptionGroups:
    """Where each clip's captions are: ``by_clip`` lists caption indices clip by clip, clip
    ``c``'s are ``by_clip[start[c] : start[c] + count[c]]``."""

    by_clip: torch.Tensor
    start: torch.Tensor
    count: torch.Tensor

    @classmethod
    def of_clips(cls, caption_clip: torch.Tensor, n_clips: int) -> CaptionGroups:
        """The groups of captions whose clips are ``caption_clip``."""
        count = torch.bincount(caption_clip, minlength=n_clips)
        by_clip = torch.argsort(caption_clip, stable=True)
        return cls(by_clip, torch.cumsum(count, 0) - count, count)

    def captions_of(
        self, clips: torch.Tensor, total: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The captions of ``clips`` and, for each, its clip's position in ``clips``; given
        their ``total`` number, a GPU does not have to be waited for to learn it."""
        lengths = self.count[clips]
        positions = torch.arange(len(clips), device=clips.device)
        group = torch.repeat_interleave(positions, lengths, output_size=total)
        first = torch.cumsum(lengths, 0) - lengths
        offset = torch.arange(len(group), device=clips.device) - first[group]
        return self.by_clip[self.start[clips][group] + offset], group


Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]
"""The clips and the captions a training step embeds, and for clip batches each caption's
position among the clips (``None``: caption ``i`` pairs with clip ``i``)."""


def _pairs(
    split: SplitData, generator: torch.Generator, size: int, device: torch.device
) -> Iterator[Batch]:
    """Every (clip, caption) pair in random order, ``size`` pairs a batch."""
    order = torch.randperm(split.n_captions, generator=generator).to(device)
    for start in range(0, split.n_captions, size):
        captions = order[start : start + size]
        yield split.caption_clip[captions], captions, None


def _clips(
    split: SplitData, generator: torch.Generator, size: int, device: torch.device
) -> Iterator[Batch]:
    """Every clip in random order, ``size`` clips a batch, each with all of its captions. Each
    batch's caption count comes from a copy of the counts on the host (one read an epoch), so
    that drawing a batch never waits for a GPU."""
    groups = CaptionGroups.of_clips(split.caption_clip, split.n_clips)
    counts = groups.count.cpu()
    order = torch.randperm(split.n_clips, generator=generator)
    on_device = order.to(device)
    for start in range(0, split.n_clips, size):
        total = int(counts[order[start : start + size]].sum())
        clips = on_device[start : start + size]
        yield clips, *groups.captions_of(clips, total)


def pair_batches() -> Batching:
    """The ``pairs`` batching."""
    return _pairs


def clip_batches() -> Batching:
    """The ``clips`` batching."""
    return _clips
