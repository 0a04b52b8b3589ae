"""Built-in poolings, registered through the same hook a third-party plugin implements.
Each pooling's module (and torch) is imported when it is built, not when the plugin loads."""

from __future__ import annotations

from atr_bench import hookimpl
from atr_bench.plugins.lazy import Lazy
from atr_bench.plugins.specs import Option, PoolingSpec, Requirement, Rule

PADDINGS = ("masked", "zeros")
"""How a pooling treats padded frames: ``masked`` ignores them (the harness's contract);
``zeros`` counts them as frames of zeros, as the paper's code does in max pooling and VLAD."""
KERNELS = ("auto", "torch", "triton")
"""``auto``: Triton for CUDA tensors when it is installed, else torch."""
ASSIGN_NORMS = ("none", "batch")
ASSIGN_INITS = ("uniform", "normal")
"""The assignment weights' start: torch's ``nn.Linear`` default (uniform, std 1/sqrt(3D)), or
N(0, 1/D) as the paper's code draws them."""


def _readout(default: str, other: str) -> Option:
    """The sequence readout option; added after runs were recorded, so ``default`` (the
    behaviour before it) is its legacy value."""
    return Option(
        "readout",
        str,
        default,
        f"{default}, or {other}: the mean of the unit-length frame outputs, L2-normalised "
        "(the paper's code)",
        choices=(default, other),
        legacy=default,
    )


PADDING_OPTION = Option(
    "padding",
    str,
    "masked",
    "masked: padded frames are ignored; zeros: they count as frames of zeros (the paper's code)",
    choices=PADDINGS,
    legacy="masked",
)
MEAN_OPTIONS = (_readout("mean", "normalised_mean"),)
MAX_OPTIONS = (PADDING_OPTION,)
LSTM_OPTIONS = (
    Option("hidden", int, 512, "hidden units per direction", minimum=1, maximum=8192),
    Option("layers", int, 1, "stacked LSTM layers", minimum=1, maximum=32),
    Option("bidirectional", bool, False, "also run backwards and concatenate both states"),
    _readout("last", "normalised_mean"),
)
TRANSFORMER_OPTIONS = (
    Option("d_model", int, 256, "model width (the output size)", minimum=1, maximum=8192),
    Option("heads", int, 4, "attention heads (must divide d_model)", minimum=1, maximum=256),
    Option("layers", int, 2, "encoder layers", minimum=1, maximum=64),
    Option(
        "dropout",
        float,
        0.1,
        "dropout inside the encoder layers",
        rule=Rule(lambda p: 0.0 <= p < 1.0, "in [0, 1)"),
    ),
    Option(
        "max_len",
        int,
        512,
        "longest input, in frames (positional embedding size)",
        minimum=1,
        maximum=100_000,
    ),
    Option(
        "norm_first",
        bool,
        False,
        "LayerNorm before attention and feed-forward (pre-norm, as the paper's code)",
        legacy=False,
    ),
    Option(
        "activation",
        str,
        "relu",
        "feed-forward activation: relu, gelu, or quick_gelu (x * sigmoid(1.702 x), the "
        "paper's code's)",
        choices=("relu", "gelu", "quick_gelu"),
        legacy="relu",
    ),
    Option(
        "norm_eps",
        float,
        1e-5,
        "LayerNorm epsilon (the paper's code has 1e-12)",
        rule=Rule(lambda e: e > 0.0, "positive"),
        legacy=1e-5,
    ),
    Option(
        "position_std",
        float,
        0.02,
        "standard deviation of the positional embedding's initial values (the paper's code "
        "has 1.0, an nn.Embedding's)",
        minimum=0.0,
        maximum=10.0,
        legacy=0.02,
    ),
    _readout("mean", "normalised_mean"),
)
VLAD_OPTIONS = (
    Option(
        "clusters",
        int,
        12,
        "clusters (the protocol uses 12 on audio, 20 on text)",
        minimum=1,
        maximum=1024,
    ),
    Option(
        "ghost_clusters",
        int,
        0,
        "extra clusters that absorb assignments and are dropped",
        minimum=0,
    ),
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
        legacy="none",
    ),
    Option(
        "assign_bias",
        bool,
        True,
        "a bias in the assignment (the paper's code has none)",
        legacy=True,
    ),
    Option(
        "assign_init",
        str,
        "uniform",
        "uniform (torch's Linear default), or normal: N(0, 1/D) as in the paper's code",
        choices=ASSIGN_INITS,
        legacy="uniform",
    ),
    PADDING_OPTION,
)


TRANSFORMER_REQUIREMENTS = (
    Requirement(
        "heads", lambda v: v["d_model"] % v["heads"] == 0, "a divisor of d_model={d_model}"
    ),
)
VLAD_REQUIREMENTS = (
    Requirement(
        "kernel",
        lambda v: not (v["torch_compile"] and v["kernel"] == "triton"),
        "auto or torch with torch_compile=true (torch.compile builds its own kernels)",
    ),
)


def _pooling(module: str, name: str) -> Lazy:
    """The class ``name`` of this package's ``module``, imported when it is built."""
    return Lazy(f"{__package__}.{module}", name)


@hookimpl
def atr_bench_poolings() -> list[PoolingSpec]:
    return [
        PoolingSpec(
            "mean",
            "masked mean over time (order-free, no parameters)",
            _pooling("simple", "MeanPooling"),
            MEAN_OPTIONS,
        ),
        PoolingSpec(
            "max",
            "masked max over time (order-free, no parameters)",
            _pooling("simple", "MaxPooling"),
            MAX_OPTIONS,
        ),
        PoolingSpec(
            "lstm",
            "last valid hidden state of an LSTM over the real frames",
            _pooling("recurrent", "LSTMPooling"),
            LSTM_OPTIONS,
            order_aware=True,
        ),
        PoolingSpec(
            "transformer",
            "transformer encoder with positions and padding mask, then masked mean",
            _pooling("attention", "TransformerPooling"),
            TRANSFORMER_OPTIONS,
            TRANSFORMER_REQUIREMENTS,
            order_aware=True,
        ),
        PoolingSpec(
            "netvlad",
            "NetVLAD: soft-assigned residuals to learned centroids (Miech et al. 2017)",
            _pooling("vlad", "NetVLAD"),
            VLAD_OPTIONS,
            VLAD_REQUIREMENTS,
            text_defaults={"clusters": 20},
        ),
        PoolingSpec(
            "netrvlad",
            "NetRVLAD: NetVLAD without centroid subtraction (Miech et al. 2017)",
            _pooling("vlad", "NetRVLAD"),
            VLAD_OPTIONS,
            VLAD_REQUIREMENTS,
            text_defaults={"clusters": 20},
        ),
    ]
