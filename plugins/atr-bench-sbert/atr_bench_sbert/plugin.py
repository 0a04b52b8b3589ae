"""The entry point: registers the ``sbert`` text encoder through ``atr_bench_text_encoders``."""

from __future__ import annotations

from atr_bench import Option, TextEncoderSpec, hookimpl
from atr_bench_sbert.encoder import DEFAULT_DIM, DEFAULT_MODEL, SbertEncoder

SPEC = TextEncoderSpec(
    name="sbert",
    description=f"sentence-transformers token embeddings (default {DEFAULT_MODEL}, offline)",
    build=SbertEncoder,
    options=(
        Option("model", str, DEFAULT_MODEL, f"{DEFAULT_MODEL} (bundled) or a local model folder"),
    ),
    dim=DEFAULT_DIM,
)


@hookimpl
def atr_bench_text_encoders() -> list[TextEncoderSpec]:
    return [SPEC]
