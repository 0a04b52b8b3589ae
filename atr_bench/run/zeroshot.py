"""A zero-shot run: a pretrained dual encoder (an extractor with a ``text_tower``) tested as it
is under a ``zero_shot`` protocol. Its audio tower's clip embeddings are extracted and cached
like any extractor's features, its text tower's caption embeddings like any text encoder's;
the test split is ranked by their cosine similarity and recorded, per-query ranks included,
as a trained run is, so its row can be compared with trained rows on the same test set."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from atr_bench.data.loading import Splits, data_identity, load_splits
from atr_bench.data.split import SplitData
from atr_bench.errors import AtrBenchError
from atr_bench.plugins.code_identity import code_identity
from atr_bench.plugins.contract import Dataset
from atr_bench.plugins.registry import Found, Registry
from atr_bench.plugins.specs import ExtractorSpec, ProtocolSpec, TextEncoderSpec
from atr_bench.record.assemble import device_name, software_versions
from atr_bench.record.metric_names import definitions
from atr_bench.record.ranks import ranks_path, write_ranks
from atr_bench.record.results import execution, record_path, write_record
from atr_bench.record.run_record import OrderResult, ProtocolRef, RunRecord, Seconds
from atr_bench.run.config import RunRequest
from atr_bench.run.context import RunContext
from atr_bench.run.evaluation import pair_accuracy
from atr_bench.run.hashing import digest_of, hashed_options
from atr_bench.run.metrics import metrics_from_ranks, query_ranks
from atr_bench.run.plan import OPTION_FLAGS, PROTOCOL_FIELDS

POOLING = "zeroshot"
"""The pooling column of a zero-shot row: each tower embeds a clip or caption whole."""
TRAINING = (
    "pooling_options",
    "text_pooling",
    "text_pooling_options",
    "text_encoder",
    "text_encoder_options",
    "weights",
    "audio_frames",
    *PROTOCOL_FIELDS,
)
"""Request fields a zero-shot run has no use for: given, they are refused."""


@dataclass(frozen=True)
class ZeroShotPlan:
    """A zero-shot run resolved: the dataset, the dual encoder (a configured extractor spec)
    and its options, the plugins behind them, and the hash naming its row."""

    dataset: Dataset
    extractor: ExtractorSpec
    options: dict[str, Any]
    components: dict[str, Found]
    config: dict[str, Any]
    settings: dict[str, Any]
    run_hash: str

    @property
    def protocol(self) -> ProtocolSpec:
        return self.components["protocol"].spec

    @property
    def text_encoder(self) -> str:
        """The text encoder column: the dual encoder's own text tower, named as it is."""
        return self.extractor.name

    @property
    def label(self) -> str:
        return f"{self.dataset.name}/{self.extractor.name}/{POOLING}/{self.text_encoder}"

    def run_id(self, seed: int) -> str:
        parts = (self.dataset.name, self.extractor.name, POOLING, self.text_encoder)
        return "-".join((*parts, self.run_hash)) + f"-s{seed}"


def plan_zero_shot(request: RunRequest, registry: Registry, data_root: Path) -> ZeroShotPlan:
    """Resolve a zero-shot request; settings it cannot use are refused, one line each."""
    given = [f for f in TRAINING if getattr(request, f) not in (None, ())]
    protocol = registry.find("protocol", request.protocol)
    if given:
        flag = "--" + given[0].replace("_options", "_opt").replace("_", "-")
        raise AtrBenchError(
            f"protocol {request.protocol!r} trains nothing and tests the dual encoder as it "
            f"is; drop {flag}"
        )
    found_dataset = registry.find("dataset", request.dataset)
    dataset_options = found_dataset.spec.resolve_options(
        dict(request.dataset_options), flag=OPTION_FLAGS["dataset"]
    )
    found = registry.find("extractor", request.extractor)
    options = found.spec.resolve_options(
        dict(request.extractor_options), flag=OPTION_FLAGS["extractor"]
    )
    if found.spec.text_tower is None:
        raise AtrBenchError(
            f"protocol {request.protocol!r} tests a dual encoder: extractor "
            f"{request.extractor!r} has no text tower; pass --extractor clap (or a plugin's "
            "dual encoder)"
        )
    extractor = found.spec.configured(options)
    components = {
        "dataset": found_dataset,
        "extractor": Found(extractor, found.origin),
        "protocol": protocol,
    }
    config = {
        "dataset": found_dataset.spec.name,
        "dataset_options": dataset_options,
        "extractor": extractor.name,
        "extractor_options": options,
        "protocol": protocol.spec.name,
        "protocol_version": protocol.spec.version,
    }
    hashed = {
        **config,
        "dataset_options": hashed_options(found_dataset.spec, tuple(dataset_options.items())),
        "extractor_options": hashed_options(extractor, tuple(options.items())),
    }
    code = {name: code_identity(found) for name, found in components.items()}
    digest = digest_of(hashed, code)  # changed code is a new run, as for a trained one
    settings = {
        f"{name}.{key}": value
        for name, spec, values in (
            ("dataset", found_dataset.spec, dataset_options),
            ("extractor", extractor, options),
        )
        for key, value in values.items()
        if value != spec.resolve_options().get(key) and spec.affects_results(key)
    }
    dataset = found_dataset.spec.create(data_root, **dataset_options)
    return ZeroShotPlan(dataset, extractor, options, components, config, settings, digest)


def load_embeddings(the_plan: ZeroShotPlan, context: RunContext) -> Splits:
    """Every split's clip and caption embeddings (one "frame" and one "token" each)."""
    extractor = the_plan.extractor
    tower = extractor.text_tower
    assert tower is not None  # checked by plan_zero_shot
    text_spec = TextEncoderSpec(
        name=extractor.name, description="the dual encoder's text tower", build=tower
    )
    build = {"weights": None, "device": str(context.device), **the_plan.options}
    return load_splits(
        the_plan.dataset,
        extractor,
        build,
        text_spec,
        the_plan.options,
        audio_frames=1,
        text_tokens=1,
        progress=context.progress,
        stream="never",
        allow_overlap=context.allow_overlap,
    )


def similarities(split: SplitData) -> torch.Tensor:
    """Cosine similarity of every caption (rows) with every clip (columns)."""
    audio = torch.nn.functional.normalize(torch.as_tensor(split.audio)[:, 0].float(), dim=-1)
    text = torch.nn.functional.normalize(split.text[:, 0].float(), dim=-1)
    return text @ audio.T


def run_zero_shot(
    the_plan: ZeroShotPlan, splits: Splits, seed: int, load_seconds: float, context: RunContext
) -> RunRecord:
    """Test the dual encoder on the test split (and the order-contrast set) and write the
    record; ``seed`` only names the record (nothing here is random)."""
    run_id = the_plan.run_id(seed)
    started = time.perf_counter()
    ranks = query_ranks(similarities(splits.test), splits.test.caption_clip)
    test = metrics_from_ranks(ranks)
    order = None
    if splits.order is not None:
        accuracy = pair_accuracy(similarities(splits.order), splits.order.caption_clip)
        order = OrderResult(pairs=splits.order.n_clips // 2, accuracy=accuracy)
    test_seconds = time.perf_counter() - started
    record = RunRecord(
        run_id=run_id,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        dataset=the_plan.dataset.name,
        extractor=the_plan.extractor.name,
        pooling=POOLING,
        text_pooling=None,
        text_encoder=the_plan.text_encoder,
        seed=seed,
        protocol=ProtocolRef(the_plan.protocol.name, the_plan.protocol.version),
        protocol_hash=the_plan.run_hash,
        settings=the_plan.settings,
        config=the_plan.config,
        plugins={
            k: {**v.origin.as_dict(), "digest": code_identity(v).digest}
            for k, v in the_plan.components.items()
        },
        features={split: dict(p) for split, p in splits.provenance.items()},
        text_features=dict(splits.text_provenance),
        versions=software_versions(),
        device=device_name(context.device),
        execution=execution(context.device),
        sizes={
            split: {"clips": s.n_clips, "captions": s.n_captions} for split, s in splits.items()
        },
        seconds=Seconds(load=load_seconds, train=0.0, test=test_seconds),
        test=test,
        metric_definitions=definitions(test["t2a"]),
        order_contrast=order,
        ranks=write_ranks(ranks_path(context.runs_dir, run_id), ranks).name,
        zero_shot=True,
        **data_identity(splits, context.allow_overlap),
    )
    write_record(record_path(context.runs_dir, run_id), record)
    return record
