"""The ``clap`` extractor's spec: a ``transformers`` CLAP model (``ClapModel`` and its
``ClapProcessor``) as a dual encoder: its audio tower gives one embedding per clip (a
"frame" per window of the processor's ``max_length_s``), its text tower one per caption, in
the same space. Tested as it is with ``--protocol zeroshot``; its clip embeddings can also be
trained on like any extractor's features."""

from __future__ import annotations

from atr_bench.hf.model_option import model_option
from atr_bench.plugins.lazy import Lazy
from atr_bench.plugins.specs import ExtractorSpec

NAME = "clap"
OWNER = f"extractor {NAME!r}"
FLAG = "--extractor-opt model"
DEFAULT_MODEL = "laion/clap-htsat-unfused"
DEFAULT_DIM = 512


def configure(spec: ExtractorSpec, model: str) -> ExtractorSpec:
    """The spec of CLAP ``model``: its shared space's width and its processor's rates."""
    from transformers import AutoConfig, AutoProcessor

    from atr_bench.hf.naming import model_spec
    from atr_bench.hf.source import resolve_model

    source = resolve_model(model, OWNER, FLAG)
    config = AutoConfig.from_pretrained(source.folder, local_files_only=True)
    features = AutoProcessor.from_pretrained(source.folder, local_files_only=True)
    features = getattr(features, "feature_extractor", features)
    rate, window = int(features.sampling_rate), float(features.max_length_s)
    return model_spec(spec, source, int(config.projection_dim), rate, 1.0 / window)


SPEC = ExtractorSpec(
    name=NAME,
    description="a transformers CLAP model's audio embedding per clip; its text tower makes "
    "it a dual encoder for --protocol zeroshot",
    build=Lazy("atr_bench.hf.clap", "ClapAudioTower"),
    options=(model_option(DEFAULT_MODEL),),
    dim=DEFAULT_DIM,  # the default model's; any other's come from configure
    sample_rate=48000,
    frames_per_second=0.1,
    configure=configure,
    text_tower=Lazy("atr_bench.hf.clap", "ClapTextTower"),
)
