"""One protocol run: resolve the plugins, load the data, train, select, test, record."""

from __future__ import annotations

import random
import time

import numpy as np
import torch

from atr_bench.data.loading import Splits, data_identity, load_splits
from atr_bench.errors import AtrBenchError
from atr_bench.files.atomic import save_torch
from atr_bench.record.assemble import Measured, build_record
from atr_bench.record.ranks import ranks_path, write_ranks
from atr_bench.record.results import checkpoint_path, record_path, write_record
from atr_bench.record.run_record import OrderResult, RunRecord, Seconds
from atr_bench.run.context import RunContext
from atr_bench.run.curves_log import open_curves
from atr_bench.run.evaluation import evaluate_ranks, order_contrast_accuracy
from atr_bench.run.metrics import metrics_from_ranks
from atr_bench.run.model import DualEncoder
from atr_bench.run.plan import Plan
from atr_bench.run.soundness import check_soundness
from atr_bench.run.training import train


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without one is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise AtrBenchError("--device cuda: no CUDA device is available here; use --device cpu")
    if name != "cpu" and not name.startswith("cuda"):
        raise AtrBenchError(f"--device {name!r}: expected auto, cpu or cuda[:N]")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_data(the_plan: Plan, context: RunContext) -> Splits:
    """Every split of the plan's dataset, on the context's device (extracting what is missing);
    the context's ``stream`` says whether the audio is read from disk a batch at a time, and
    audio with no room on the device is kept in host memory (``load_splits``)."""
    c = the_plan.config
    device = context.device
    extractor = the_plan.components["extractor"].spec
    build = {"weights": c.weights, "device": str(device), **dict(c.extractor_options)}
    splits = load_splits(
        the_plan.dataset,
        extractor,
        build,
        the_plan.components["text_encoder"].spec,
        dict(c.text_encoder_options),
        c.audio_frames,
        c.text_tokens,
        context.progress,
        context.stream,
        device,
        context.allow_overlap,
        context.log,
    )
    return splits.to(device)


def sound_or_allowed(the_plan: Plan, context: RunContext) -> dict[str, list[str]]:
    """The soundness checks the plan's poolings fail (``run.soundness``): an error unless the
    context allows them, then a warning; called once per plan, before its data loads."""
    failed = check_soundness(the_plan, context.allow_unsound)
    if failed:
        context.log.warning("%s: unsound poolings trained on purpose: %s", the_plan.label, failed)
    return failed


def build_model(the_plan: Plan, splits: Splits) -> DualEncoder:
    c = the_plan.config
    audio_pool = the_plan.components["pooling"].spec.create(
        splits.train.audio.shape[-1], **dict(c.pooling_options)
    )
    text_pool = the_plan.components["text_pooling"].spec.create(
        splits.train.text.shape[-1], **dict(c.text_pooling_options)
    )
    return DualEncoder(audio_pool, text_pool, c.embed_dim, c.gate_batch_norm, c.audio_l2renorm)


def run_seed(
    the_plan: Plan, splits: Splits, seed: int, load_seconds: float, context: RunContext
) -> RunRecord:
    """Train and test one seed, save the selected model and write the run record; the
    training curves go where ``context.log_to`` says (``curves_log.LOG_TO``)."""
    runs_dir, run_id = context.runs_dir, the_plan.run_id(seed)
    failed = check_soundness(the_plan, context.allow_unsound)  # warned about before loading
    seed_everything(seed)
    model = build_model(the_plan, splits).to(context.device)
    measured, best_state = _train_and_test(the_plan, splits, seed, load_seconds, context, model)
    save_torch(
        checkpoint_path(runs_dir, run_id),
        {"model": best_state, "config": the_plan.config.as_dict(), "seed": seed},
    )
    identity = data_identity(splits, context.allow_overlap)
    record = build_record(
        the_plan, splits, seed, measured, context.device, identity, failed or None
    )
    write_record(record_path(runs_dir, run_id), record)
    checkpoint_path(runs_dir, run_id, "resume").unlink(missing_ok=True)
    return record


def _train_and_test(
    the_plan: Plan,
    splits: Splits,
    seed: int,
    load_seconds: float,
    context: RunContext,
    model: DualEncoder,
) -> tuple[Measured, dict[str, torch.Tensor]]:
    """Train ``model`` (resuming from the run's resume file), select its best epoch, and test
    that on the test split (and the order-contrast set where there is one)."""
    c, device, runs_dir = the_plan.config, context.device, context.runs_dir
    run_id = the_plan.run_id(seed)
    started = time.perf_counter()
    with open_curves(context.log_to, runs_dir, run_id, {**c.as_dict(), "seed": seed}) as curves:
        outcome = train(
            model,
            splits.train,
            splits.val,
            c,
            the_plan.protocol,
            seed,
            device,
            checkpoint=checkpoint_path(runs_dir, run_id, "resume"),
            progress=context.progress,
            label=f"{the_plan.label} seed {seed}",
            curves=curves,
        )
    train_seconds = time.perf_counter() - started
    model.load_state_dict(outcome.best_state)
    started = time.perf_counter()
    ranks = evaluate_ranks(model, splits.test, device, c.amp)
    test = metrics_from_ranks(ranks)
    test_seconds = time.perf_counter() - started
    order = None
    if splits.order is not None:
        order = OrderResult(
            pairs=splits.order.n_clips // 2,
            accuracy=order_contrast_accuracy(model, splits.order, device, c.amp),
        )
    measured = Measured(
        curve=tuple(outcome.curve),
        best_epoch=outcome.best_epoch,
        test=test,
        order=order,
        seconds=Seconds(load=load_seconds, train=train_seconds, test=test_seconds),
        parameters=sum(p.numel() for p in model.parameters()),
        ranks=write_ranks(ranks_path(runs_dir, run_id), ranks).name,
    )
    return measured, outcome.best_state
