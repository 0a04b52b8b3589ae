"""The ``hf`` extractor's spec: frame-level hidden states of a ``transformers`` audio model.

Its dim and rates depend on the model, so ``configure`` reads them from the model's configs
and names the configured spec ``hf-<model>-<hash of the model's digest, layer and stride>``:
that name is the feature folder and the runs' extractor column, so two models (or layers)
never share features, and the same model reached by another path shares them."""

from __future__ import annotations

from atr_bench.hf.layers import LAYER, check_layer
from atr_bench.hf.model_option import model_option
from atr_bench.plugins.lazy import Lazy
from atr_bench.plugins.specs import ExtractorSpec, Option

NAME = "hf"
OWNER = f"extractor {NAME!r}"
FLAG = "--extractor-opt model"
DEFAULT_MODEL = "MIT/ast-finetuned-audioset-10-10-0.4593"


def configure(spec: ExtractorSpec, model: str, layer: str, stride: int) -> ExtractorSpec:
    """The spec of ``model`` at ``layer``, averaged over ``stride`` frames."""
    from atr_bench.hf.audio_framing import read_framing
    from atr_bench.hf.naming import model_spec
    from atr_bench.hf.source import resolve_model

    source = resolve_model(model, OWNER, FLAG)
    framing = read_framing(source.folder, OWNER)
    check_layer(layer, framing.layers, OWNER)
    fps = framing.frames_per_second / stride
    return model_spec(
        spec, source, framing.dim, framing.sample_rate, fps, layer=layer, stride=stride
    )


MODEL = model_option(DEFAULT_MODEL)


SPEC = ExtractorSpec(
    name=NAME,
    description="hidden states of a transformers audio model (AST, wav2vec 2.0, HuBERT, WavLM, "
    "Whisper's encoder); dim and rates from the model's configs",
    build=Lazy("atr_bench.hf.extractor", "HFExtractor"),
    options=(
        MODEL,
        LAYER,
        Option("stride", int, 1, "average every N frames into one (1: every frame)", minimum=1),
    ),
    dim=768,  # the default model's (the hub's AudioSet AST); any other's come from configure
    sample_rate=16000,
    frames_per_second=10.0,
    configure=configure,
)
