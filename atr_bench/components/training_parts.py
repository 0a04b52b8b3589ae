"""Built-in losses and batchings, registered through the same hooks a third-party plugin
implements; a protocol names one of each (``loss``, ``batch_items``)."""

from __future__ import annotations

from atr_bench import hookimpl
from atr_bench.plugins.lazy import Lazy
from atr_bench.plugins.specs import BatchingSpec, LossSpec


@hookimpl
def atr_bench_losses() -> list[LossSpec]:
    return [
        LossSpec(
            name="max_margin",
            description="bidirectional max-margin ranking loss (Collaborative Experts)",
            build=Lazy("atr_bench.run.losses", "max_margin"),
            settings=("margin",),
        ),
        LossSpec(
            name="infonce",
            description="symmetric InfoNCE over the batch, other positives left out",
            build=Lazy("atr_bench.run.losses", "infonce"),
            settings=("temperature",),
        ),
    ]


@hookimpl
def atr_bench_batchings() -> list[BatchingSpec]:
    return [
        BatchingSpec(
            name="clips",
            description="clips in random order, each with all of its captions (the paper's code)",
            build=Lazy("atr_bench.run.batches", "clip_batches"),
        ),
        BatchingSpec(
            name="pairs",
            description="(caption, clip) pairs in random order",
            build=Lazy("atr_bench.run.batches", "pair_batches"),
        ),
    ]
