"""Built-in text encoders, registered through the same hook a third-party plugin implements.
Each encoder's module (and gensim) is imported when it is built, not when the plugin loads."""

from __future__ import annotations

from atr_bench import hookimpl
from atr_bench.components.text_encoders.sizes import GOOGLENEWS_DIM, WORD2VEC_DIM
from atr_bench.hf.text_spec import SPEC as HF_SPEC
from atr_bench.plugins.lazy import Lazy
from atr_bench.plugins.specs import Option, TextEncoderSpec


@hookimpl
def atr_bench_text_encoders() -> list[TextEncoderSpec]:
    return [
        TextEncoderSpec(
            name="word2vec",
            description="skip-gram word2vec (300-d) trained on the training captions",
            build=Lazy(f"{__package__}.word2vec", "Word2VecEncoder"),
            options=(
                Option(
                    "epochs",
                    int,
                    30,
                    "training passes over the captions",
                    minimum=1,
                    maximum=10_000,
                ),
                Option(
                    "window", int, 5, "context window, in words each side", minimum=1, maximum=100
                ),
                Option("min_count", int, 1, "ignore words rarer than this", minimum=1),
                Option(
                    "seed",
                    int,
                    0,
                    "training seed (training is deterministic)",
                    minimum=0,
                    maximum=2**32 - 1,
                ),
            ),
            dim=WORD2VEC_DIM,
        ),
        TextEncoderSpec(
            name="w2v",
            description="the seed's precomputed GoogleNews word2vec features (w2v_<split>.pkl)",
            build=Lazy(f"{__package__}.w2v_pickle", "W2VPickle"),
            dim=GOOGLENEWS_DIM,
        ),
        HF_SPEC,
    ]
