"""Training of the dual encoder under the protocol: whole batches on the device, no per-item
Python work, model selection on validation (``evaluation``), resumable from a checkpoint."""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from atr_bench.data.split import SplitData
from atr_bench.data.streamed import prefetch
from atr_bench.errors import AtrBenchError
from atr_bench.files.atomic import load_torch
from atr_bench.plugins.contract import Batching
from atr_bench.plugins.registry import registry
from atr_bench.plugins.specs import ProtocolSpec
from atr_bench.record.results import execution
from atr_bench.run.batches import Batch
from atr_bench.run.config import RunConfig
from atr_bench.run.curves_log import NO_CURVES, CurveLogger
from atr_bench.run.evaluation import autocast, evaluate
from atr_bench.run.model import DualEncoder
from atr_bench.run.optim import build_optimizer
from atr_bench.run.resume_writer import ResumeWriter

_log = logging.getLogger(__name__)

SELECTION = ("t2a", "geo")
"""Model selection: best validation geometric mean of t2a R@1, R@5, R@10."""


@dataclass(frozen=True)
class Outcome:
    """What training produced: the validation curve, the chosen epoch and its weights."""

    curve: list[dict[str, Any]]
    best_epoch: int
    best_state: dict[str, torch.Tensor]


def loss_function(config: RunConfig) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The configured loss (a registered ``LossSpec``) with the protocol settings it takes."""
    spec = registry().get("loss", config.loss)
    loss = spec.create()
    settings = {name: getattr(config, name) for name in spec.settings}
    return lambda sims, pos: loss(sims, pos, **settings)


def batching(name: str) -> Batching:
    """The registered batching ``name`` (a protocol's ``batch_items``)."""
    return registry().get("batching", name).create()


LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def caption_mean(sims: torch.Tensor, group: torch.Tensor, clips: int) -> torch.Tensor:
    """``[captions, clips]`` similarities -> ``[clips, clips]``: row ``i`` is the mean over the
    captions of batch clip ``i`` (the paper's code's ``merge_caption_similiarities="avg"``).
    The captions are counted by adding ones, exact in float32, where ``bincount`` would make a
    GPU wait to size its output."""
    total = sims.new_zeros(clips, sims.shape[1]).index_add_(0, group, sims)
    count = sims.new_zeros(clips).index_add_(0, group, sims.new_ones(len(group)))
    return total / count.unsqueeze(1)


def _train_epoch(
    model: DualEncoder,
    split: SplitData,
    optimizer: torch.optim.Optimizer,
    loss_fn: LossFn,
    generator: torch.Generator,
    config: RunConfig,
    device: torch.device,
) -> float:
    """One epoch of the configured batch composition; returns the mean loss, read when the
    epoch ends (a loss read after each step would make the host wait for a GPU every step).

    Pair batches: captions of the same clip that meet in a batch are positives of each other,
    never negatives. Clip batches: a clip-caption similarity is the mean over the clip's
    captions, and every other clip of the batch is a negative.
    """
    model.train()
    losses = []
    batches = batching(config.batch_items)(split, generator, config.batch_size, device)
    batch = next(batches, None)
    if batch is not None:
        prefetch(split.audio, batch[0])
    while batch is not None:
        following = next(batches, None)
        if following is not None:
            prefetch(split.audio, following[0])  # read from disk while this batch trains
        if batch[0].numel() >= 2:  # a lone item has no negatives
            step = train_step(model, split, batch, optimizer, loss_fn, config, device)
            losses.append(step)
        batch = following
    return sum(torch.stack(losses).tolist()) / len(losses) if losses else 0.0


def train_step(
    model: DualEncoder,
    split: SplitData,
    batch: Batch,
    optimizer: torch.optim.Optimizer,
    loss_fn: LossFn,
    config: RunConfig,
    device: torch.device,
) -> torch.Tensor:
    """One optimiser step on one batch (both embeddings, similarity, loss, backward, step);
    returns the loss, detached (reading it waits for the step to finish)."""
    clips, captions, group = batch
    with autocast(device, config.amp):
        audio = model.embed_audio(split.audio[clips], split.audio_len[clips])
        text = model.embed_text(split.text[captions], split.text_len[captions])
    sims = text.float() @ audio.float().T
    if group is None:
        positives = clips[:, None] == clips[None, :]
    else:
        sims = caption_mean(sims, group, len(clips))
        positives = torch.eye(len(clips), dtype=torch.bool, device=sims.device)
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(sims, positives)
    loss.backward()
    optimizer.step()
    return loss.detach()


def improves(score: float, best: float, ties: str) -> bool:
    """Whether an epoch's validation ``score`` replaces the ``best`` so far; a tie does when
    ``ties`` is ``later`` (the paper's code compares with ``>=``)."""
    return score > best or (ties == "later" and score == best)


def train(
    model: DualEncoder,
    train_split: SplitData,
    val_split: SplitData,
    config: RunConfig,
    protocol: ProtocolSpec,
    seed: int,
    device: torch.device,
    checkpoint: Path | None = None,
    progress: bool = True,
    label: str = "train",
    curves: CurveLogger = NO_CURVES,
) -> Outcome:
    """Train for ``config.epochs`` and keep the epoch with the best validation t2a geo mean
    (a tie goes to the later epoch when the protocol's ``selection_ties`` says so).

    After every epoch the full state (weights, optimiser, schedule, RNG, curve) is saved
    atomically to ``checkpoint`` (on a GPU by a thread, ``ResumeWriter``); a run started again
    with the same checkpoint goes on from there and ends with exactly the numbers an
    uninterrupted run gives. ``curves`` gets every epoch's entry of the curve, those a resume
    restores first.
    """
    optimizer, scheduler = build_optimizer(
        model.parameters(), config.lr, config.weight_decay, config.gamma, protocol.optimizer
    )
    loss_fn = loss_function(config)
    generator = torch.Generator().manual_seed(seed)
    identity = _identity(config, seed, device)
    parts = _Parts(model, optimizer, scheduler, generator)
    done = _Progress(curve=[], best_score=-math.inf, best_epoch=0, best_state=None)
    if checkpoint is not None and checkpoint.exists():
        done = _resume(checkpoint, identity, parts, done, config.epochs, label)
        if progress and done.epoch:
            _log.info("%s: resuming after epoch %d of %d", label, done.epoch, config.epochs)
    for entry in done.curve:
        curves.log_epoch(entry)
    bar = _epoch_bar(done.epoch, config.epochs, label, progress)
    writer = ResumeWriter(background=device.type != "cpu")
    try:
        for epoch in bar:
            done.keep_best(model)
            loss = _train_epoch(model, train_split, optimizer, loss_fn, generator, config, device)
            scheduler.step()
            val = evaluate(model, val_split, device, config.amp)
            score = val[SELECTION[0]][SELECTION[1]]
            done.curve.append({"epoch": epoch + 1, "loss": loss, "val": val})
            curves.log_epoch(done.curve[-1])
            if improves(score, done.best_score, protocol.selection_ties):
                done.now_best(score, epoch + 1)
            bar.set_postfix(loss=f"{loss:.4f}", val_geo=f"{score:.2f}", best=done.best_epoch)
            if checkpoint is not None:
                last = epoch + 1 == config.epochs
                _save_resume(writer, checkpoint, identity, parts, done, last)
        writer.wait()
    finally:
        writer.close()
    return Outcome(done.curve, done.best_epoch, _best_weights(model, done))


def _epoch_bar(done: int, epochs: int, label: str, progress: bool) -> tqdm:
    """The epochs still to train, with a progress bar that counts those done."""
    return tqdm(
        range(done, epochs),
        desc=label,
        unit="epoch",
        initial=done,
        total=epochs,
        disable=not progress,
        leave=False,
    )


@dataclass(frozen=True)
class _Parts:
    """What a resume file saves and restores besides the progress."""

    model: DualEncoder
    optimizer: torch.optim.Optimizer
    scheduler: Any
    generator: torch.Generator


@dataclass
class _Progress:
    """Training so far: the curve (one entry per finished epoch) and the best epoch, whose
    weights are ``best_state``, or the model's own while it has not trained further (None):
    the best weights are copied only when another epoch is to change them."""

    curve: list[dict[str, Any]]
    best_score: float
    best_epoch: int
    best_state: dict[str, torch.Tensor] | None
    spare: dict[str, torch.Tensor] | None = None  # a former best state's tensors, for reuse

    def keep_best(self, model: torch.nn.Module) -> None:
        """Before an epoch trains the model: copy its weights where they are the best."""
        if self.best_epoch and self.best_state is None:
            self.best_state = _copy_state(model, into=self.spare)

    def now_best(self, score: float, epoch: int) -> None:
        """The model's weights after ``epoch`` are the best so far."""
        self.best_score, self.best_epoch = score, epoch
        if self.best_state is not None:
            self.spare = self.best_state
        self.best_state = None

    @property
    def epoch(self) -> int:
        """Epochs finished."""
        return len(self.curve)


def _resume(
    checkpoint: Path,
    identity: dict[str, Any],
    parts: _Parts,
    fresh: _Progress,
    epochs: int,
    label: str,
) -> _Progress:
    """The progress in this run's resume file, with the model, optimiser, schedule and RNGs
    restored; ``fresh`` when the file was made under other execution settings (said)."""
    state = _read_resume(checkpoint, identity, epochs)
    if state is None:
        _log.warning(
            "%s: %s was written under other execution settings (%s), which change the "
            "numbers; training again from epoch 0",
            label,
            checkpoint,
            _describe_execution(identity["execution"]),
        )
        return fresh
    if state["model"] is not None:
        try:
            parts.model.load_state_dict(state["model"])
            parts.optimizer.load_state_dict(state["optimizer"])
            parts.scheduler.load_state_dict(state["scheduler"])
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            raise _not_this_runs(checkpoint, f"its weights do not fit ({exc})") from None
    parts.generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    best_state = state["best_state"]  # None: the epoch's own, the weights just restored
    return _Progress(list(state["curve"]), state["best_score"], state["best_epoch"], best_state)


def _save_resume(
    writer: ResumeWriter,
    checkpoint: Path,
    identity: dict[str, Any],
    parts: _Parts,
    done: _Progress,
    last: bool,
) -> None:
    """The full state after an epoch, atomically (by ``writer``); after the last one only what
    ends the run (a fifth of the bytes), and the best weights once, when they are this
    epoch's."""
    state = {
        **identity,
        "epoch": done.epoch,
        "generator": parts.generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "curve": done.curve,
        "best_score": done.best_score,
        "best_epoch": done.best_epoch,
    }
    if last:
        state |= {"model": None, "optimizer": None, "scheduler": None}
        state["best_state"] = _best_weights(parts.model, done)
    else:
        state |= {
            "model": parts.model.state_dict(),
            "optimizer": parts.optimizer.state_dict(),
            "scheduler": parts.scheduler.state_dict(),
            "best_state": done.best_state,
        }
    writer.write(checkpoint, state)


def _identity(config: RunConfig, seed: int, device: torch.device) -> dict[str, Any]:
    """What a resume file must match to be gone on from: its run (configuration and seed) and
    the execution settings that change the numbers (``record.results.execution``)."""
    settings = {k: v for k, v in config.as_dict().items() if k != "weights"}  # a path: by digest
    blob = json.dumps({**settings, "seed": seed}, sort_keys=True, default=str)
    plain = json.loads(json.dumps(execution(device)))  # torch's version is a str subclass
    return {"run": hashlib.sha256(blob.encode()).hexdigest(), "execution": plain}


def _describe_execution(settings: dict[str, Any]) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(settings.items()))


def _not_this_runs(checkpoint: Path, why: str) -> AtrBenchError:
    return AtrBenchError(
        f"{checkpoint}: not a resume file of this run ({why}); move it out of the checkpoints "
        "folder and the run starts from epoch 0"
    )


def _read_resume(checkpoint: Path, identity: dict[str, Any], epochs: int) -> dict[str, Any] | None:
    """The state in ``checkpoint`` when it is this run's and consistent; None when it is this
    run's under other execution settings (the run then starts again); else an error."""
    try:
        state = load_torch(checkpoint)
    except Exception as exc:  # garbage, truncated or a hostile file: torch raises many kinds
        raise _not_this_runs(checkpoint, f"unreadable: {type(exc).__name__}") from None
    if not isinstance(state, dict) or state.get("run") != identity["run"]:
        raise _not_this_runs(checkpoint, "written by another run, or by an older atr-bench")
    if state.get("execution") != identity["execution"]:
        return None
    problem = _resume_problem(state, epochs)
    if problem is not None:
        raise _not_this_runs(checkpoint, problem)
    return state


def _resume_problem(state: dict[str, Any], epochs: int) -> str | None:
    """Why a resume file's progress cannot be this run's, or None."""
    epoch, curve, best_epoch = state.get("epoch"), state.get("curve"), state.get("best_epoch")
    if not (isinstance(epoch, int) and 1 <= epoch <= epochs):
        return f"epoch {epoch!r} is not one of 1..{epochs}"
    if not (
        isinstance(curve, list) and [e.get("epoch") for e in curve] == list(range(1, epoch + 1))
    ):
        return f"its curve is not epochs 1..{epoch}"
    if not (isinstance(best_epoch, int) and 1 <= best_epoch <= epoch):
        return f"best epoch {best_epoch!r} is not one of 1..{epoch}"
    score = state.get("best_score")
    kept = curve[best_epoch - 1]["val"][SELECTION[0]][SELECTION[1]]
    if not (isinstance(score, float) and math.isfinite(score) and score == kept):
        return f"best score {score!r} is not its best epoch's validation score"
    last = epoch == epochs
    if (state.get("model") is None) != last or (last and state.get("best_state") is None):
        return "its weights do not match its epoch"
    return None


def _best_weights(model: torch.nn.Module, done: _Progress) -> dict[str, torch.Tensor]:
    """The best epoch's weights: the kept copy, or the model's own when they are the best."""
    if done.best_state is not None:
        return done.best_state
    return {k: v.detach() for k, v in model.state_dict().items()}


def _copy_state(
    model: torch.nn.Module, into: dict[str, torch.Tensor] | None = None
) -> dict[str, torch.Tensor]:
    """The model's weights and buffers, copied: into ``into``'s tensors when it holds the same
    entries (a better epoch replaces the best one without another 284 MB at the AudioCaps
    shape), else into new ones."""
    state = model.state_dict()
    if (
        into is None
        or into.keys() != state.keys()
        or any(into[k].shape != v.shape or into[k].dtype != v.dtype for k, v in state.items())
    ):
        return {k: v.detach().clone() for k, v in state.items()}
    for k, v in state.items():
        into[k].copy_(v)
    return into
