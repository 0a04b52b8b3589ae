"""The run record of a trained and tested seed, assembled from its plan, its data and what
was measured (``run.execute`` measures, this says what a record holds)."""

from __future__ import annotations

import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from atr_bench import __version__
from atr_bench.record.metric_names import definitions
from atr_bench.record.results import execution
from atr_bench.record.run_record import OrderResult, ProtocolRef, RunRecord, Seconds

if TYPE_CHECKING:
    from atr_bench.data.loading import Splits
    from atr_bench.run.plan import Plan


@dataclass(frozen=True)
class Measured:
    """What training and testing one seed gave: its curve and best epoch, the test metrics,
    the order-contrast result, the seconds of each stage, the model's size and the ranks
    file's name (beside the record)."""

    curve: tuple[dict[str, Any], ...]
    best_epoch: int
    test: dict[str, dict[str, float]]
    order: OrderResult | None
    seconds: Seconds
    parameters: int
    ranks: str


def build_record(
    the_plan: Plan,
    splits: Splits,
    seed: int,
    measured: Measured,
    device: torch.device,
    identity: dict[str, Any],
    unsound: dict[str, list[str]] | None,
) -> RunRecord:
    """The record of one seed; ``identity`` holds the data fields (``loading.data_identity``)."""
    c = the_plan.config
    return RunRecord(
        run_id=the_plan.run_id(seed),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        dataset=c.dataset,
        extractor=c.extractor,
        pooling=c.pooling,
        text_pooling=c.text_pooling,
        text_encoder=c.text_encoder,
        seed=seed,
        protocol=ProtocolRef(the_plan.protocol.name, the_plan.protocol.version),
        protocol_hash=the_plan.run_hash,
        settings=the_plan.settings,
        config=c.as_dict(),
        plugins={
            k: {**v.origin.as_dict(), "digest": the_plan.code[k].digest}
            for k, v in the_plan.components.items()
        },
        untrained=c.weights == "random" or splits.untrained_features,
        features={split: dict(p) for split, p in splits.provenance.items()},
        text_features=dict(splits.text_provenance),
        versions=software_versions(),
        device=device_name(device),
        execution=execution(device),
        sizes={
            split: {"clips": s.n_clips, "captions": s.n_captions} for split, s in splits.items()
        },
        seconds=measured.seconds,
        best_epoch=measured.best_epoch,
        val_curve=measured.curve,
        test=measured.test,
        metric_definitions=definitions(measured.test["t2a"]),
        order_contrast=measured.order,
        parameters=measured.parameters,
        ranks=measured.ranks,
        **identity,
        unsound=unsound,
    )


def software_versions() -> dict[str, str]:
    """The versions of the software behind a record's numbers."""
    return {
        "atr_bench": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def device_name(device: torch.device) -> str:
    """The device in words, as records state it: the GPU's name, or the CPU and its threads."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
