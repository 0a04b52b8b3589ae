"""Evaluation of the dual encoder: embeddings of a whole split in batches, every query's rank,
the retrieval metrics from them, and the order-contrast accuracy."""

from __future__ import annotations

import contextlib

import torch

from atr_bench.data.split import SplitData
from atr_bench.data.streamed import HostRows, StreamedFeatures, prefetch
from atr_bench.record.ranks import QueryRanks
from atr_bench.run.metrics import metrics_from_ranks, query_ranks
from atr_bench.run.model import DualEncoder

AUDIO_BATCH_BYTES = 64 << 20
"""Audio rows embedded at once in evaluation: a bound in bytes, so that long clips (Clotho's 90
frames of 2048) do not take hundreds of MB per batch."""


def autocast(device: torch.device, amp: bool):
    """bf16 autocast on CUDA when mixed precision is on; a no-op on CPU."""
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.no_grad()
def embed_split(
    model: DualEncoder, split: SplitData, device: torch.device, amp: bool, batch: int = 1024
) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit-norm embeddings of every clip and every caption of a split, in fp32."""
    model.eval()
    with autocast(device, amp):
        clips = max(1, min(batch, AUDIO_BATCH_BYTES // _row_bytes(split.audio)))
        audio = torch.cat(
            [
                _embed_audio(model, split, slice(i, i + clips), slice(i + clips, i + 2 * clips))
                for i in range(0, split.n_clips, clips)
            ]
        )
        text = torch.cat(
            [
                model.embed_text(split.text[i : i + batch], split.text_len[i : i + batch])
                for i in range(0, split.n_captions, batch)
            ]
        )
    return audio.float(), text.float()


def _row_bytes(audio: torch.Tensor | StreamedFeatures | HostRows) -> int:
    _, frames, dim = audio.shape
    return max(1, frames * dim * 4)


def _embed_audio(
    model: DualEncoder, split: SplitData, rows: slice, following: slice
) -> torch.Tensor:
    if following.start < split.n_clips:
        prefetch(split.audio, following)  # read from disk while these clips are embedded
    return model.embed_audio(split.audio[rows], split.audio_len[rows])


def evaluate(
    model: DualEncoder, split: SplitData, device: torch.device, amp: bool
) -> dict[str, dict[str, float]]:
    """Both directions' retrieval metrics on one split (captions x clips cosine similarity)."""
    return metrics_from_ranks(evaluate_ranks(model, split, device, amp))


def evaluate_ranks(
    model: DualEncoder, split: SplitData, device: torch.device, amp: bool
) -> QueryRanks:
    """Every query's rank on one split, from which ``evaluate``'s metrics follow."""
    audio, text = embed_split(model, split, device, amp)
    return query_ranks(text @ audio.T, split.caption_clip)


def order_contrast_accuracy(
    model: DualEncoder, split: SplitData, device: torch.device, amp: bool
) -> float:
    """Percent of captions that score their own clip above its order-swapped partner
    (clips ``2i`` and ``2i + 1`` are partners); a tie counts half."""
    audio, text = embed_split(model, split, device, amp)
    return pair_accuracy(text @ audio.T, split.caption_clip)


def pair_accuracy(sims: torch.Tensor, caption_clip: torch.Tensor) -> float:
    """Percent of captions (rows of ``sims``) scoring their clip above its partner clip
    ``caption_clip ^ 1``; a tie counts half, so ties never favour the model."""
    own = sims.gather(1, caption_clip[:, None])
    other = sims.gather(1, (caption_clip ^ 1)[:, None])
    wins = (own > other).float() + 0.5 * (own == other).float()
    return float(wins.mean() * 100)
