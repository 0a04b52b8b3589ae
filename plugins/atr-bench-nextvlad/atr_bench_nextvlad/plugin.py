"""The entry point: registers the ``nextvlad`` pooling through the ``atr_bench_poolings`` hook."""

from __future__ import annotations

from atr_bench import Option, PoolingSpec, hookimpl
from atr_bench_nextvlad.nextvlad import NeXtVLAD

SPEC = PoolingSpec(
    name="nextvlad",
    description="NeXtVLAD: grouped soft assignment with attention over groups (Lin et al. 2018)",
    build=NeXtVLAD,
    options=(
        Option(
            "clusters",
            int,
            12,
            "clusters (12 on audio, 20 on text, as the protocol's VLADs)",
            minimum=1,
        ),
        Option("expansion", int, 2, "width multiplier before grouping (lambda)", minimum=1),
        Option("groups", int, 8, "groups (must divide expansion * in_dim)", minimum=1),
    ),
    text_defaults={"clusters": 20},
)


@hookimpl
def atr_bench_poolings() -> list[PoolingSpec]:
    return [SPEC]
