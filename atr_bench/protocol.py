"""One protocol run: resolve the plugins, load the data, train, select, test, record."""

from __future__ import annotations

import dataclasses
import platform
import random
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from atr_bench import __version__
from atr_bench.atomic import save_torch
from atr_bench.config import RunConfig, freeze
from atr_bench.data.streamed import room_on_device
from atr_bench.errors import AtrBenchError
from atr_bench.loading import Splits, load_splits
from atr_bench.losses import LOSSES
from atr_bench.model import DualEncoder
from atr_bench.plugins import Found, Registry
from atr_bench.results import (
    SCHEMA_VERSION,
    checkpoint_path,
    execution,
    record_path,
    write_record,
)
from atr_bench.specs import ProtocolSpec
from atr_bench.training import evaluate, order_contrast_accuracy, train


@dataclass(frozen=True)
class Plan:
    """A run's config with every default filled in, the plugins behind each component, and
    ``defaults``: the same components under the protocol with nothing set by the user."""

    config: RunConfig
    components: dict[str, Found]
    dataset: Any
    defaults: RunConfig

    @property
    def protocol(self) -> ProtocolSpec:
        return self.components["protocol"].spec

    @property
    def protocol_hash(self) -> str:
        """The config's hash without options that do not affect results (see ``Option``)."""
        kept = {
            f"{component}_options": freeze(
                found.spec.result_options(getattr(self.config, f"{component}_options"))
            )
            for component, found in self.components.items()
            if component in COMPONENTS  # the protocol has no options of its own
        }
        return dataclasses.replace(self.config, **kept).protocol_hash()

    @property
    def settings(self) -> dict[str, Any]:
        """What this run sets away from its protocol's values for its components, results
        only (``pooling.readout``, ``lr``, ...): how a leaderboard tells rows of one pooling
        and protocol apart."""
        c, base = self.config, self.defaults
        out: dict[str, Any] = {}
        for f in dataclasses.fields(RunConfig):
            if f.name in COMPONENTS or f.name.startswith("protocol"):
                continue
            if f.name.endswith("_options"):
                prefix = f.name.removesuffix("_options")
                spec = self.components[prefix].spec
                default = dict(getattr(base, f.name))
                out.update(
                    {
                        f"{prefix}.{k}": v
                        for k, v in getattr(c, f.name)
                        if v != default.get(k) and spec.affects_results(k)
                    }
                )
            elif getattr(c, f.name) != getattr(base, f.name):
                out[f.name] = getattr(c, f.name)
        return out

    @property
    def label(self) -> str:
        c = self.config
        return f"{c.dataset}/{c.extractor}/{c.pooling}/{c.text_encoder}"

    def run_id(self, seed: int) -> str:
        c = self.config
        parts = (c.dataset, c.extractor, c.pooling, c.text_encoder, self.protocol_hash)
        return "-".join(parts) + f"-s{seed}"


COMPONENTS = ("dataset", "extractor", "pooling", "text_pooling", "text_encoder")
"""RunConfig fields naming a plugin: leaderboard columns of their own, not settings."""
PROTOCOL_FIELDS = (
    "embed_dim",
    "loss",
    "margin",
    "temperature",
    "lr",
    "weight_decay",
    "gamma",
    "batch_size",
    "epochs",
    "text_tokens",
    "gate_batch_norm",
    "batch_items",
    "audio_l2renorm",
)
"""RunConfig fields that default to the protocol's value."""


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without one is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise AtrBenchError("--device cuda: no CUDA device is available here; use --device cpu")
    if name != "cpu" and not name.startswith("cuda"):
        raise AtrBenchError(f"--device {name!r}: expected auto, cpu or cuda[:N]")
    return torch.device(name)


def plan(config: RunConfig, registry: Registry, data_root: Path) -> Plan:
    """Look every plugin up, validate every option and fill in the protocol's defaults."""
    found_protocol = registry.find("protocol", config.protocol)
    found_dataset = registry.find("dataset", config.dataset)
    dataset_opts = found_dataset.spec.resolve_options(dict(config.dataset_options))
    dataset = found_dataset.spec.build(data_root, **dataset_opts)
    extractor = registry.find("extractor", config.extractor)
    pooling = registry.find("pooling", config.pooling)
    text_pooling = registry.find("pooling", config.text_pooling or config.pooling)
    text_encoder = registry.find(
        "text_encoder", config.text_encoder or dataset.defaults.text_encoder
    )
    components = {
        "dataset": found_dataset,
        "extractor": extractor,
        "pooling": pooling,
        "text_pooling": text_pooling,
        "text_encoder": text_encoder,
        "protocol": found_protocol,
    }
    base = RunConfig(
        **{name: getattr(config, name) for name in (*COMPONENTS, "protocol")},
    )
    resolved = _resolve(config, components, dataset)
    return Plan(resolved, components, dataset, _resolve(base, components, dataset))


def _resolve(config: RunConfig, components: dict[str, Found], dataset: Any) -> RunConfig:
    """``config`` with the protocol's values where it has None and every option typed."""
    protocol: ProtocolSpec = components["protocol"].spec
    extractor = components["extractor"].spec
    audio_spec, text_spec = components["pooling"].spec, components["text_pooling"].spec
    encoder = components["text_encoder"].spec
    filled = {
        name: getattr(protocol, name) if getattr(config, name) is None else getattr(config, name)
        for name in PROTOCOL_FIELDS
    }
    if config.embed_dim is None:
        filled["embed_dim"] = protocol.embed_dim_for(audio_spec.name, extractor.dim)
    if filled["loss"] not in LOSSES:
        raise AtrBenchError(f"unknown loss {filled['loss']!r}; known: {', '.join(sorted(LOSSES))}")
    audio_base = protocol.build(audio_spec.name, "audio", extractor.dim)
    text_base = {
        **text_spec.text_defaults,
        **protocol.build(text_spec.name, "text", encoder.dim),
    }
    return dataclasses.replace(
        config,
        **filled,
        protocol_version=protocol.version,
        text_pooling=text_spec.name,
        text_encoder=encoder.name,
        dataset_options=freeze(
            components["dataset"].spec.resolve_options(dict(config.dataset_options))
        ),
        extractor_options=freeze(extractor.resolve_options(dict(config.extractor_options))),
        pooling_options=freeze(
            audio_spec.resolve_options(dict(config.pooling_options), base=audio_base)
        ),
        text_pooling_options=freeze(
            text_spec.resolve_options(dict(config.text_pooling_options), base=text_base)
        ),
        text_encoder_options=freeze(encoder.resolve_options(dict(config.text_encoder_options))),
        audio_frames=config.audio_frames or dataset.defaults.frames_for(extractor),
    )


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_data(
    the_plan: Plan, device: torch.device, progress: bool = True, stream: str = "auto"
) -> Splits:
    """Every split of the plan's dataset, on ``device`` (progress bars for any extraction);
    ``stream`` says whether the audio is read from disk a batch at a time (``load_splits``)."""
    c = the_plan.config
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
        progress,
        stream,
    )
    audio_bytes = splits.audio_bytes()
    if not room_on_device(device, audio_bytes):
        print(
            f"audio features: {audio_bytes / 1e9:.1f} GB, over half of {device}'s free "
            "memory; kept in host memory and copied to it a batch at a time",
            file=sys.stderr,
        )
        splits = splits.audio_on_host()
    return splits.to(device)


def build_model(the_plan: Plan, splits: Splits) -> DualEncoder:
    c = the_plan.config
    audio_pool = the_plan.components["pooling"].spec.build(
        splits.train.audio.shape[-1], **dict(c.pooling_options)
    )
    text_pool = the_plan.components["text_pooling"].spec.build(
        splits.train.text.shape[-1], **dict(c.text_pooling_options)
    )
    return DualEncoder(audio_pool, text_pool, c.embed_dim, c.gate_batch_norm, c.audio_l2renorm)


def run_seed(
    the_plan: Plan,
    splits: Splits,
    seed: int,
    device: torch.device,
    runs_dir: Path,
    load_seconds: float,
    progress: bool = True,
) -> dict[str, Any]:
    """Train and test one seed, save the selected model and write the run record."""
    c = the_plan.config
    run_id = the_plan.run_id(seed)
    seed_everything(seed)
    model = build_model(the_plan, splits).to(device)
    started = time.perf_counter()
    outcome = train(
        model,
        splits.train,
        splits.val,
        c,
        the_plan.protocol,
        seed,
        device,
        checkpoint=checkpoint_path(runs_dir, run_id, "resume"),
        progress=progress,
        label=f"{the_plan.label} seed {seed}",
    )
    train_seconds = time.perf_counter() - started
    model.load_state_dict(outcome.best_state)
    started = time.perf_counter()
    test = evaluate(model, splits.test, device, c.amp)
    test_seconds = time.perf_counter() - started
    order = None
    if splits.order is not None:
        order = {
            "pairs": splits.order.n_clips // 2,
            "accuracy": order_contrast_accuracy(model, splits.order, device, c.amp),
        }
    save_torch(
        checkpoint_path(runs_dir, run_id),
        {"model": outcome.best_state, "config": c.as_dict(), "seed": seed},
    )
    record = {
        "schema": SCHEMA_VERSION,
        "run_id": run_id,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "dataset": c.dataset,
        "extractor": c.extractor,
        "pooling": c.pooling,
        "text_pooling": c.text_pooling,
        "text_encoder": c.text_encoder,
        "seed": seed,
        "protocol": {"name": the_plan.protocol.name, "version": the_plan.protocol.version},
        "protocol_hash": the_plan.protocol_hash,
        "settings": the_plan.settings,
        "config": c.as_dict(),
        "plugins": {k: v.origin.as_dict() for k, v in the_plan.components.items()},
        "untrained": c.weights == "random" or splits.untrained_features,
        "features": {split: dict(p) for split, p in splits.provenance.items()},
        "versions": {
            "atr_bench": __version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "device": _device_name(device),
        "execution": execution(device),
        "sizes": {
            split: {"clips": s.n_clips, "captions": s.n_captions} for split, s in splits.items()
        },
        "seconds": {"load": load_seconds, "train": train_seconds, "test": test_seconds},
        "best_epoch": outcome.best_epoch,
        "val_curve": outcome.curve,
        "test": test,
        "order_contrast": order,
    }
    write_record(record_path(runs_dir, run_id), record)
    checkpoint_path(runs_dir, run_id, "resume").unlink(missing_ok=True)
    return record


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
