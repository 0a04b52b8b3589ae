"""Training and evaluation of the dual encoder under the protocol: whole batches on the device,
no per-item Python work, model selection on validation, resumable from a checkpoint."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from atr_bench.atomic import save_torch
from atr_bench.config import RunConfig
from atr_bench.data.split import SplitData
from atr_bench.losses import LOSSES
from atr_bench.metrics import retrieval_metrics
from atr_bench.model import DualEncoder
from atr_bench.optim import build_optimizer

SELECTION = ("t2a", "geo")
"""Model selection: best validation geometric mean of t2a R@1, R@5, R@10."""


@dataclass(frozen=True)
class Outcome:
    """What training produced: the validation curve, the chosen epoch and its weights."""

    curve: list[dict[str, Any]]
    best_epoch: int
    best_state: dict[str, torch.Tensor]


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
        audio = torch.cat(
            [
                model.embed_audio(split.audio[i : i + batch], split.audio_len[i : i + batch])
                for i in range(0, split.n_clips, batch)
            ]
        )
        text = torch.cat(
            [
                model.embed_text(split.text[i : i + batch], split.text_len[i : i + batch])
                for i in range(0, split.n_captions, batch)
            ]
        )
    return audio.float(), text.float()


def evaluate(
    model: DualEncoder, split: SplitData, device: torch.device, amp: bool
) -> dict[str, dict[str, float]]:
    """Both directions' retrieval metrics on one split (captions x clips cosine similarity)."""
    audio, text = embed_split(model, split, device, amp)
    return retrieval_metrics(text @ audio.T, split.caption_clip)


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


def loss_function(config: RunConfig) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The configured loss with its hyper-parameter bound."""
    loss = LOSSES[config.loss]
    if config.loss == "infonce":
        return lambda sims, pos: loss(sims, pos, temperature=config.temperature)
    return lambda sims, pos: loss(sims, pos, margin=config.margin)


def _train_epoch(
    model: DualEncoder,
    split: SplitData,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    generator: torch.Generator,
    config: RunConfig,
    device: torch.device,
) -> float:
    """One pass over every (clip, caption) pair in random order; returns the mean loss.

    Captions of the same clip that meet in a batch are positives of each other, never negatives.
    """
    model.train()
    order = torch.randperm(split.n_captions, generator=generator).to(device)
    total, steps = 0.0, 0
    for start in range(0, split.n_captions, config.batch_size):
        captions = order[start : start + config.batch_size]
        if captions.numel() < 2:  # a lone pair has no negatives
            continue
        clips = split.caption_clip[captions]
        with autocast(device, config.amp):
            audio = model.embed_audio(split.audio[clips], split.audio_len[clips])
            text = model.embed_text(split.text[captions], split.text_len[captions])
        sims = text.float() @ audio.float().T
        loss = loss_fn(sims, clips[:, None] == clips[None, :])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.item()
        steps += 1
    return total / max(steps, 1)


def train(
    model: DualEncoder,
    train_split: SplitData,
    val_split: SplitData,
    config: RunConfig,
    seed: int,
    device: torch.device,
    checkpoint: Path | None = None,
    progress: bool = True,
    label: str = "train",
) -> Outcome:
    """Train for ``config.epochs`` and keep the epoch with the best validation t2a geo mean.

    After every epoch the full state (weights, optimiser, schedule, RNG, curve) is saved
    atomically to ``checkpoint``; a run started again with the same checkpoint goes on from
    there and ends with exactly the numbers an uninterrupted run gives.
    """
    optimizer, scheduler = build_optimizer(
        model.parameters(), config.lr, config.weight_decay, config.gamma
    )
    loss_fn = loss_function(config)
    generator = torch.Generator().manual_seed(seed)
    curve: list[dict[str, Any]] = []
    best_score, best_epoch, best_state = -math.inf, 0, _copy_state(model)
    start = 0
    if checkpoint is not None and checkpoint.exists():
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        curve, best_score = list(state["curve"]), state["best_score"]
        best_epoch, best_state, start = state["best_epoch"], state["best_state"], state["epoch"]
    bar = tqdm(
        range(start, config.epochs),
        desc=label,
        unit="epoch",
        initial=start,
        total=config.epochs,
        disable=not progress,
        leave=False,
    )
    for epoch in bar:
        loss = _train_epoch(model, train_split, optimizer, loss_fn, generator, config, device)
        scheduler.step()
        val = evaluate(model, val_split, device, config.amp)
        score = val[SELECTION[0]][SELECTION[1]]
        curve.append({"epoch": epoch + 1, "loss": loss, "val": val})
        if score > best_score:
            best_score, best_epoch, best_state = score, epoch + 1, _copy_state(model)
        bar.set_postfix(loss=f"{loss:.4f}", val_geo=f"{score:.2f}", best=best_epoch)
        if checkpoint is not None:
            save_torch(
                checkpoint,
                {
                    "epoch": epoch + 1,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "generator": generator.get_state(),
                    "torch_rng": torch.get_rng_state(),
                    "curve": curve,
                    "best_score": best_score,
                    "best_epoch": best_epoch,
                    "best_state": best_state,
                },
            )
    return Outcome(curve, best_epoch, best_state)


def _copy_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
