"""Built-in poolings, registered through the same hook a third-party plugin implements."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from atr_bench import hookimpl
from atr_bench.components.poolings.attention import TransformerPooling
from atr_bench.components.poolings.recurrent import LSTMPooling
from atr_bench.components.poolings.simple import PADDINGS, MaxPooling, MeanPooling
from atr_bench.components.poolings.vlad import (
    ASSIGN_INITS,
    ASSIGN_NORMS,
    KERNELS,
    NetRVLAD,
    NetVLAD,
)
from atr_bench.plugins.contract import Pooling
from atr_bench.plugins.specs import Option, PoolingSpec


def _readout(default: str, other: str) -> Option:
    """The sequence readout option; added after runs were recorded: hashed off its default."""
    return Option(
        "readout",
        str,
        default,
        f"{default}, or {other}: the mean of the unit-length frame outputs, L2-normalised "
        "(the paper's code)",
        choices=(default, other),
        hashed_at_default=False,
    )


PADDING_OPTION = Option(
    "padding",
    str,
    "masked",
    "masked: padded frames are ignored; zeros: they count as frames of zeros (the paper's code)",
    choices=PADDINGS,
    hashed_at_default=False,
)
MEAN_OPTIONS = (_readout("mean", "normalised_mean"),)
MAX_OPTIONS = (PADDING_OPTION,)
LSTM_OPTIONS = (
    Option("hidden", int, 512, "hidden units per direction"),
    Option("layers", int, 1, "stacked LSTM layers"),
    Option("bidirectional", bool, False, "also run backwards and concatenate both states"),
    _readout("last", "normalised_mean"),
)
TRANSFORMER_OPTIONS = (
    Option("d_model", int, 256, "model width (the output size)"),
    Option("heads", int, 4, "attention heads (must divide d_model)"),
    Option("layers", int, 2, "encoder layers"),
    Option("dropout", float, 0.1, "dropout inside the encoder layers"),
    Option("max_len", int, 512, "longest input, in frames (positional embedding size)"),
    Option(
        "norm_first",
        bool,
        False,
        "LayerNorm before attention and feed-forward (pre-norm, as the paper's code)",
        hashed_at_default=False,
    ),
    Option(
        "activation",
        str,
        "relu",
        "feed-forward activation: relu, or gelu (the paper's code has QuickGELU)",
        choices=("relu", "gelu"),
        hashed_at_default=False,
    ),
    _readout("mean", "normalised_mean"),
)
VLAD_OPTIONS = (
    Option("clusters", int, 12, "clusters (the protocol uses 12 on audio, 20 on text)"),
    Option("ghost_clusters", int, 0, "extra clusters that absorb assignments and are dropped"),
    Option(
        "kernel",
        str,
        "auto",
        "auto: fused Triton kernels on CUDA when Triton is installed, else torch; or torch, triton",
        choices=KERNELS,
        affects_results=False,
    ),
    Option(
        "torch_compile",
        bool,
        False,
        "run through torch.compile (the first call compiles)",
        affects_results=False,
    ),
    Option(
        "assign_norm",
        str,
        "none",
        "none, or batch: BatchNorm of the assignment logits over the real frames (the paper's "
        "code has it, over padding too)",
        choices=ASSIGN_NORMS,
        hashed_at_default=False,
    ),
    Option(
        "assign_bias",
        bool,
        True,
        "a bias in the assignment (the paper's code has none)",
        hashed_at_default=False,
    ),
    Option(
        "assign_init",
        str,
        "uniform",
        "uniform (torch's Linear default), or normal: N(0, 1/D) as in the paper's code",
        choices=ASSIGN_INITS,
        hashed_at_default=False,
    ),
    PADDING_OPTION,
)


def _spec(
    name: str,
    description: str,
    module: Callable[..., Pooling],
    options: tuple[Option, ...] = (),
    text_defaults: Mapping[str, Any] | None = None,
    order_aware: bool = False,
) -> PoolingSpec:
    """A spec whose ``build`` types and checks its options before constructing ``module``."""

    def build(in_dim: int, **opts: Any) -> Pooling:
        return module(in_dim, **spec.resolve_options(opts))

    spec = PoolingSpec(
        name=name,
        description=description,
        build=build,
        options=options,
        text_defaults=dict(text_defaults or {}),
        order_aware=order_aware,
    )
    return spec


@hookimpl
def atr_bench_poolings() -> list[PoolingSpec]:
    return [
        _spec(
            "mean", "masked mean over time (order-free, no parameters)", MeanPooling, MEAN_OPTIONS
        ),
        _spec("max", "masked max over time (order-free, no parameters)", MaxPooling, MAX_OPTIONS),
        _spec(
            "lstm",
            "last valid hidden state of an LSTM over the real frames",
            LSTMPooling,
            LSTM_OPTIONS,
            order_aware=True,
        ),
        _spec(
            "transformer",
            "transformer encoder with positions and padding mask, then masked mean",
            TransformerPooling,
            TRANSFORMER_OPTIONS,
            order_aware=True,
        ),
        _spec(
            "netvlad",
            "NetVLAD: soft-assigned residuals to learned centroids (Miech et al. 2017)",
            NetVLAD,
            VLAD_OPTIONS,
            text_defaults={"clusters": 20},
        ),
        _spec(
            "netrvlad",
            "NetRVLAD: NetVLAD without centroid subtraction (Miech et al. 2017)",
            NetRVLAD,
            VLAD_OPTIONS,
            text_defaults={"clusters": 20},
        ),
    ]
