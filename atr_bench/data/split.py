"""One split as padded tensors: audio [N, T, D] and captions [M, L, Dt] with lengths, and which
clip each caption describes."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from atr_bench.data.streamed import HostRows, StreamedFeatures
from atr_bench.errors import AtrBenchError, preview
from atr_bench.plugins.contract import Clip


def pad_tokens(
    features: Sequence[np.ndarray], max_tokens: int, dim: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Captions' token features cropped / zero-padded to ``max_tokens`` in one preallocated
    float32 [M, max_tokens, dim] array, with lengths [M]. A caption without tokens gets one zero
    token, so every length is >= 1 (poolings never see an all-masked row)."""
    if max_tokens < 1:
        raise AtrBenchError(f"max_tokens must be >= 1, got {max_tokens}")
    out = np.zeros((len(features), max_tokens, dim), dtype=np.float32)
    lengths = np.ones(len(features), dtype=np.int64)
    for row, tokens in enumerate(features):
        if tokens.size == 0:
            continue
        if tokens.ndim != 2 or tokens.shape[1] != dim:
            raise AtrBenchError(
                f"caption {row}: token features have shape {tokens.shape}, expected [n, {dim}]"
            )
        n = min(len(tokens), max_tokens)
        out[row, :n] = tokens[:n]
        lengths[row] = n
    return torch.from_numpy(out), torch.from_numpy(lengths)


@dataclass(frozen=True)
class SplitData:
    """A split ready for training or evaluation: caption ``i`` describes clip
    ``caption_clip[i]`` (an index into ``clip_ids`` / ``audio``). ``audio`` is a tensor, or
    where it does not fit a stand-in that gives indexed rows (``data.streamed``)."""

    clip_ids: tuple[str, ...]
    audio: torch.Tensor | StreamedFeatures | HostRows
    audio_len: torch.Tensor
    text: torch.Tensor
    text_len: torch.Tensor
    caption_clip: torch.Tensor
    captions: tuple[str, ...]

    @property
    def n_clips(self) -> int:
        return len(self.clip_ids)

    @property
    def n_captions(self) -> int:
        return len(self.captions)

    def to(self, device: torch.device | str) -> SplitData:
        """The same split with every tensor on ``device``."""
        return dataclasses.replace(
            self,
            audio=self.audio.to(device),
            audio_len=self.audio_len.to(device),
            text=self.text.to(device),
            text_len=self.text_len.to(device),
            caption_clip=self.caption_clip.to(device),
        )


def _token_dim(text_source: str, features: Sequence[np.ndarray]) -> int:
    dims = {int(f.shape[1]) for f in features if f.size and f.ndim == 2}
    if len(dims) != 1:
        found = f"dims {sorted(dims)}" if dims else "no tokens at all"
        raise AtrBenchError(f"{text_source}: expected one token dim, found {found}")
    return dims.pop()


def build_split(
    clips: Sequence[Clip],
    audio: torch.Tensor | StreamedFeatures,
    audio_len: torch.Tensor,
    text_features: Mapping[str, Sequence[np.ndarray]],
    max_tokens: int,
    text_source: str,
    text_fix: str = "delete the text cache so it is encoded again",
) -> SplitData:
    """Pair the split's audio rows (in ``clips`` order) with its captions' padded tokens.
    ``text_fix`` is the advice for text features that do not match the index (deleting only
    what the harness can make again)."""
    if audio.shape[0] != len(clips) or audio_len.shape[0] != len(clips):
        raise AtrBenchError(
            f"{text_source}: {audio.shape[0]} audio rows for {len(clips)} clips; the feature "
            "file does not match the index"
        )
    missing = [c.clip_id for c in clips if c.clip_id not in text_features]
    if missing:
        raise AtrBenchError(
            f"{text_source}: no text features for {len(missing)} clips ({preview(missing)}); "
            f"{text_fix}"
        )
    flat: list[np.ndarray] = []
    for clip in clips:
        captions = text_features[clip.clip_id]
        if len(captions) != len(clip.captions):
            raise AtrBenchError(
                f"{text_source}: clip {clip.clip_id!r} has {len(captions)} caption features but "
                f"the index lists {len(clip.captions)} captions; {text_fix}"
            )
        flat.extend(np.asarray(c) for c in captions)
    dim = _token_dim(text_source, flat)
    try:
        text, text_len = pad_tokens(flat, max_tokens, dim)
    except AtrBenchError as exc:
        raise AtrBenchError(f"{text_source}: {exc}") from None
    counts = torch.tensor([len(c.captions) for c in clips], dtype=torch.int64)
    return SplitData(
        clip_ids=tuple(c.clip_id for c in clips),
        audio=audio,
        audio_len=audio_len,
        text=text,
        text_len=text_len,
        caption_clip=torch.repeat_interleave(torch.arange(len(clips)), counts),
        captions=tuple(caption for c in clips for caption in c.captions),
    )
