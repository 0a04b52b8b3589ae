"""The ``hf`` text encoder's spec: token hidden states of a ``transformers`` text model.
``configure`` names it ``hf-<model>-<hash of the model's digest and layer>`` with the model's
width, so runs of two models (or one model's two versions at one path) never share a row."""

from __future__ import annotations

import dataclasses

from atr_bench.hf.layers import LAYER, check_layer
from atr_bench.hf.model_option import model_option
from atr_bench.plugins.lazy import Lazy
from atr_bench.plugins.specs import TextEncoderSpec

NAME = "hf"
OWNER = f"text encoder {NAME!r}"
FLAG = "--text-encoder-opt model"
DEFAULT_MODEL = "google-bert/bert-base-uncased"


def configure(spec: TextEncoderSpec, model: str, layer: str) -> TextEncoderSpec:
    """The spec of ``model`` at ``layer``: its width and a name holding its digest."""
    from transformers import AutoConfig

    from atr_bench.hf.naming import model_name
    from atr_bench.hf.source import resolve_model

    source = resolve_model(model, OWNER, FLAG)
    config = AutoConfig.from_pretrained(source.folder, local_files_only=True)
    check_layer(layer, config.num_hidden_layers, OWNER)
    name = model_name(NAME, source, layer=layer)
    return dataclasses.replace(spec, name=name, dim=int(config.hidden_size), configure=None)


SPEC = TextEncoderSpec(
    name=NAME,
    description="token hidden states of a transformers text model (BERT, RoBERTa, ...); "
    "dim: the model's hidden size",
    build=Lazy("atr_bench.hf.text_encoder", "HFTextEncoder"),
    options=(
        model_option(DEFAULT_MODEL),
        LAYER,
    ),
    dim=768,  # the default model's; any other's comes from configure
    configure=configure,
)
