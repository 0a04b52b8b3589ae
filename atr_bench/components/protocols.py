"""Built-in protocols, registered through the same hook a third-party plugin implements.

``lou2022`` is the paper's released code (SiyuLou/AudioTextRetrievalInContext:
``configs/base_config.json``, the Clotho/AudioCaps configs, ``model/model_pooling.py``,
``model/net_vlad.py``, ``model/loss.py``, ``utils/ranger.py``, ``trainer/trainer.py``) as it
runs; ``lou2022-masked`` is the same with padding masked everywhere (the default); ``pairs`` is
the caption-pair protocol atr-bench used before protocols were named; ``zeroshot`` trains
nothing and tests a pretrained dual encoder as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
    "activation": "quick_gelu",
    "norm_eps": 1e-12,
    "position_std": 1.0,
}
"""Its seqTransf configs (``configs/*/train-seqTransf.json``) and ``model/transformer.py``:
width 512, 4 heads, 8 pre-norm blocks without dropout, QuickGELU, LayerNorm epsilon 1e-12,
positions initialised N(0, 1) (an ``nn.Embedding``); the shared space is as wide as the
transformer. Their 100-epoch Noam schedule is not part of the protocol."""
TUNED_EPOCHS = 40
TUNED_TEMPERATURE = 0.05
"""Chosen by the validation geometric mean of t2a R@1/5/10, netrvlad, seeds 0-2, among 20, 40
and 60 epochs, max-margin and InfoNCE at temperatures 0.05 and 0.1 (README, "Protocols")."""
UNIT_MEAN = {"readout": "normalised_mean"}
"""Mean, LSTM and transformer outputs are read out as the mean of unit-length frames."""


SMALL_TEXT_LSTM_HIDDEN = 256
SMALL_TRANSFORMER: dict[str, Any] = {
    "d_model": 128,
    "heads": 4,
    "layers": 2,
    "dropout": 0.0,
    "norm_first": True,
    "activation": "gelu",
}
"""``lou2022-tuned``'s order-aware poolings: the paper's text LSTM (2048 units) and 8-layer
transformer take minutes per epoch on a CPU core; these take seconds."""


def lou2022_options(
    padding: str,
    text_lstm_hidden: int = TEXT_LSTM_HIDDEN,
    transformer: Mapping[str, Any] = TRANSFORMER,
) -> Callable[[str, str, int], dict[str, Any]]:
    """The pooling options of the released code; ``padding`` says whether padded frames enter
    max pooling and VLAD as zeros (``zeros``, as that code does) or are masked; the text LSTM's
    width and the transformer's shape can be changed."""

    def options(pooling: str, side: str, in_dim: int) -> dict[str, Any]:
        if pooling in ("netvlad", "netrvlad"):
            return {**VLAD_ASSIGNMENT, "clusters": VLAD_CLUSTERS[side], "padding": padding}
        if pooling == "max":
            return {"padding": padding}
        if pooling == "mean":
            return dict(UNIT_MEAN)
        if pooling == "lstm":  # audio: as many hidden units as features, as its configs have
            hidden = text_lstm_hidden if side == "text" else in_dim
            return {"hidden": hidden, **UNIT_MEAN}
        if pooling == "transformer":
            return {**transformer, **UNIT_MEAN}
        return {}

    return options


PAPER_FRAMES = {
    "audiocaps": {
        "vggish": 10,
        "panns_cnn10": 62,
        "panns_cnn14": 31,
        "vggsound": 29,
        "efficient_latent": 32,
        "lms": 10,
    },
    "clotho": {"vggish": 31, "panns_cnn10": 120, "panns_cnn14": 90, "vggsound": 95, "lms": 90},
}
"""Frames per clip of each extractor's features in the paper's released configs (the seed's
feature dumps have these shapes); every built-in trained protocol keeps them."""


def _lou2022(name: str, padding: str, description: str, **changes: Any) -> ProtocolSpec:
    """The released code's protocol, with ``padding`` for max pooling and VLAD and any other
    ``ProtocolSpec`` field changed."""
    settings: dict[str, Any] = {
        "build": lou2022_options(padding),
        "embed_dims": {"transformer": "d_model"},
        **changes,
    }
    return ProtocolSpec(
        name=name,
        description=description,
        version=1,
        batch_items="clips",
        embed_dim=None,
        audio_l2renorm=True,
        gate_batch_norm=True,
        optimizer=RANGER,
        selection_ties="later",
        audio_frames=PAPER_FRAMES,
        **settings,
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
        _lou2022(
            "lou2022-tuned",
            "masked",
            f"the default: lou2022-masked with symmetric InfoNCE (temperature "
            f"{TUNED_TEMPERATURE}) for {TUNED_EPOCHS} epochs, chosen on synthcaps' validation "
            f"split; a {SMALL_TEXT_LSTM_HIDDEN}-unit text LSTM and a "
            f"{SMALL_TRANSFORMER['layers']}-layer {SMALL_TRANSFORMER['d_model']}-wide transformer",
            build=lou2022_options("masked", SMALL_TEXT_LSTM_HIDDEN, SMALL_TRANSFORMER),
            embed_dims={},
            loss="infonce",
            temperature=TUNED_TEMPERATURE,
            epochs=TUNED_EPOCHS,
        ),
        ProtocolSpec(
            name="zeroshot",
            description="trains nothing: a pretrained dual encoder (--extractor clap) embeds "
            "the test captions and clips with its own towers, ranked by cosine similarity",
            build=_no_options,
            version=1,
            zero_shot=True,
            epochs=0,
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
            audio_frames=PAPER_FRAMES,
        ),
    ]
