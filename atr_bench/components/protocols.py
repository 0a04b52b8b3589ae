"""Built-in protocols, registered through the same hook a third-party plugin implements.

``lou2022`` is the paper's released code (SiyuLou/AudioTextRetrievalInContext:
``configs/base_config.json``, the Clotho/AudioCaps configs, ``model/model_pooling.py``,
``model/net_vlad.py``, ``model/loss.py``, ``utils/ranger.py``, ``trainer/trainer.py``) as it
runs; ``lou2022-masked`` is the same with padding masked everywhere (the default); ``pairs`` is
the caption-pair protocol atr-bench used before protocols were named.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from atr_bench import hookimpl
from atr_bench.plugins.specs import OptimizerSettings, ProtocolSpec

RANGER = OptimizerSettings(betas=(0.95, 0.999), eps=1e-5, decoupled=True)
"""The released code's own Ranger: beta1 0.95, eps 1e-5, weight decay applied to the weights."""
VLAD_ASSIGNMENT = {"assign_norm": "batch", "assign_bias": False, "assign_init": "normal"}
"""Its NetVLAD/NetRVLAD assignment: ``x @ clusters`` (no bias, N(0, 1/D)), then BatchNorm."""
VLAD_CLUSTERS = {"audio": 12, "text": 20}
TEXT_LSTM_HIDDEN = 2048
TRANSFORMER: dict[str, Any] = {
    "d_model": 512,
    "heads": 4,
    "layers": 8,
    "dropout": 0.0,
    "norm_first": True,
    "activation": "gelu",
}
"""Its seqTransf configs (``configs/*/train-seqTransf.json``): width 512, 4 heads, 8 layers of
pre-norm blocks without dropout (GELU here, QuickGELU there; their 100-epoch Noam schedule is
not part of the protocol)."""
UNIT_MEAN = {"readout": "normalised_mean"}
"""Mean, LSTM and transformer outputs are read out as the mean of unit-length frames."""


def lou2022_options(padding: str) -> Callable[[str, str, int], dict[str, Any]]:
    """The pooling options of the released code; ``padding`` says whether padded frames enter
    max pooling and VLAD as zeros (``zeros``, as that code does) or are masked."""

    def options(pooling: str, side: str, in_dim: int) -> dict[str, Any]:
        if pooling in ("netvlad", "netrvlad"):
            return {**VLAD_ASSIGNMENT, "clusters": VLAD_CLUSTERS[side], "padding": padding}
        if pooling == "max":
            return {"padding": padding}
        if pooling == "mean":
            return dict(UNIT_MEAN)
        if pooling == "lstm":  # audio: as many hidden units as features, as its configs have
            hidden = TEXT_LSTM_HIDDEN if side == "text" else in_dim
            return {"hidden": hidden, **UNIT_MEAN}
        if pooling == "transformer":
            return {**TRANSFORMER, **UNIT_MEAN}
        return {}

    return options


def _lou2022(name: str, padding: str, description: str) -> ProtocolSpec:
    return ProtocolSpec(
        name=name,
        description=description,
        build=lou2022_options(padding),
        version=1,
        batch_items="clips",
        embed_dim=None,
        embed_dims={"transformer": TRANSFORMER["d_model"]},
        audio_l2renorm=True,
        gate_batch_norm=True,
        optimizer=RANGER,
        selection_ties="later",
    )


def _no_options(pooling: str, side: str, in_dim: int) -> dict[str, Any]:
    return {}


@hookimpl
def atr_bench_protocols() -> list[ProtocolSpec]:
    return [
        _lou2022(
            "lou2022",
            "zeros",
            "the paper's released code exactly: clip batches (captions averaged), shared space "
            "as wide as the audio features, Ranger; padded frames enter max pooling and VLAD "
            "(its assignment BatchNorm and mass) as zeros, as there",
        ),
        _lou2022(
            "lou2022-masked",
            "masked",
            "lou2022 with padding masked everywhere (max pooling and VLAD ignore padded frames)",
        ),
        ProtocolSpec(
            name="pairs",
            description="atr-bench's first protocol: (caption, clip) pair batches, 768-d space, "
            "no gate BatchNorm or audio renorm, RAdam with L2 weight decay, pooling defaults",
            build=_no_options,
            version=1,
            batch_items="pairs",
            embed_dim=768,
            audio_l2renorm=False,
            gate_batch_norm=False,
            optimizer=OptimizerSettings(),
            selection_ties="earlier",
        ),
    ]
