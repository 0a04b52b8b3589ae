"""One protocol run: resolve the plugins, load the data, train, select, test, record."""

from __future__ import annotations

import platform
import random
import time
from datetime import UTC, datetime

import numpy as np
import torch

from atr_bench import __version__
from atr_bench.data.streamed import room_on_device
from atr_bench.errors import AtrBenchError
from atr_bench.files.atomic import save_torch
from atr_bench.record.ranks import ranks_path, write_ranks
from atr_bench.record.results import checkpoint_path, execution, record_path, write_record
from atr_bench.record.run_record import OrderContrast, ProtocolRef, RunRecord, Seconds
from atr_bench.run.context import RunContext
from atr_bench.run.curves_log import open_curves
from atr_bench.run.evaluation import evaluate_ranks, order_contrast_accuracy
from atr_bench.run.loading import Splits, data_identity, load_splits
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
    the context's ``stream`` says whether the audio is read from disk a batch at a time."""
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
        device.type,
        context.allow_overlap,
    )
    audio_bytes = splits.audio_bytes()
    if not room_on_device(device, audio_bytes):
        context.log.warning(
            "audio features: %.1f GB, over half of %s's free memory; kept in host memory and "
            "copied to it a batch at a time",
            audio_bytes / 1e9,
            device,
        )
        splits = splits.audio_on_host()
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
    c = the_plan.config
    device, runs_dir = context.device, context.runs_dir
    run_id = the_plan.run_id(seed)
    failed = check_soundness(the_plan, context.allow_unsound)  # warned about before loading
    seed_everything(seed)
    model = build_model(the_plan, splits).to(device)
    started = time.perf_counter()
    curve_params = {**c.as_dict(), "seed": seed}
    with open_curves(context.log_to, runs_dir, run_id, curve_params) as curves:
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
        order = OrderContrast(
            pairs=splits.order.n_clips // 2,
            accuracy=order_contrast_accuracy(model, splits.order, device, c.amp),
        )
    save_torch(
        checkpoint_path(runs_dir, run_id),
        {"model": outcome.best_state, "config": c.as_dict(), "seed": seed},
    )
    record = RunRecord(
        run_id=run_id,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        dataset=c.dataset,
        extractor=c.extractor,
        pooling=c.pooling,
        text_pooling=c.text_pooling,
        text_encoder=c.text_encoder,
        seed=seed,
        protocol=ProtocolRef(the_plan.protocol.name, the_plan.protocol.version),
        protocol_hash=the_plan.protocol_hash,
        settings=the_plan.settings,
        config=c.as_dict(),
        plugins={
            k: {**v.origin.as_dict(), "digest": the_plan.code[k].digest}
            for k, v in the_plan.components.items()
        },
        untrained=c.weights == "random" or splits.untrained_features,
        features={split: dict(p) for split, p in splits.provenance.items()},
        text_features=dict(splits.text_provenance),
        versions={
            "atr_bench": __version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        device=device_name(device),
        execution=execution(device),
        sizes={
            split: {"clips": s.n_clips, "captions": s.n_captions} for split, s in splits.items()
        },
        seconds=Seconds(load=load_seconds, train=train_seconds, test=test_seconds),
        best_epoch=outcome.best_epoch,
        val_curve=tuple(outcome.curve),
        test=test,
        order_contrast=order,
        parameters=sum(p.numel() for p in model.parameters()),
        ranks=write_ranks(ranks_path(runs_dir, run_id), ranks).name,
        **data_identity(splits, context.allow_overlap),
        unsound=failed or None,
    )
    write_record(record_path(runs_dir, run_id), record)
    checkpoint_path(runs_dir, run_id, "resume").unlink(missing_ok=True)
    return record


def device_name(device: torch.device) -> str:
    """The device in words, as records state it: the GPU's name, or the CPU and its threads."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
