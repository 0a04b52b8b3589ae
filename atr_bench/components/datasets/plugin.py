"""Built-in datasets: the embedded ``synthcaps`` and the paper's AudioCaps and Clotho. Each
dataset's module (and librosa, numpy) is imported when it is built, not when the plugin loads."""

from __future__ import annotations

from atr_bench import hookimpl
from atr_bench.plugins.lazy import Lazy
from atr_bench.plugins.specs import DatasetSpec, Option


@hookimpl
def atr_bench_datasets() -> list[DatasetSpec]:
    return [
        DatasetSpec(
            name="synthcaps",
            description="embedded procedural sound events, 5 order-aware captions per clip",
            build=Lazy("atr_bench.components.datasets.embedded", "synthcaps"),
            options=(
                Option("seed", int, 0, "generator seed", minimum=0, maximum=2**32 - 1),
                Option("train", int, 1500, "training clips", minimum=2, maximum=200_000),
                Option("val", int, 300, "validation clips", minimum=2, maximum=50_000),
                Option("test", int, 300, "test clips", minimum=2, maximum=50_000),
                Option("duration", float, 4.0, "clip length in seconds", minimum=0.5, maximum=60.0),
                Option(
                    "order_pairs",
                    int,
                    100,
                    "clip pairs of the order-contrast test",
                    minimum=0,
                    maximum=10_000,
                ),
            ),
        ),
        DatasetSpec(
            name="audiocaps",
            description="AudioCaps (Kim et al. 2019), seed layout: Index/*.csv, AudioExpert/*.h5",
            build=Lazy("atr_bench.components.datasets.indexed", "audiocaps"),
        ),
        DatasetSpec(
            name="clotho",
            description="Clotho v2 (Drossos et al. 2020), seed layout: Index/*.json",
            build=Lazy("atr_bench.components.datasets.indexed", "clotho"),
        ),
    ]
