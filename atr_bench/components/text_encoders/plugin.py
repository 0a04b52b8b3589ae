"""Built-in text encoders, registered through the same hook a third-party plugin implements."""

from __future__ import annotations

from atr_bench import hookimpl
from atr_bench.components.text_encoders import w2v_pickle, word2vec
from atr_bench.components.text_encoders.w2v_pickle import W2VPickle
from atr_bench.components.text_encoders.word2vec import Word2VecEncoder
from atr_bench.plugins.specs import Option, TextEncoderSpec


@hookimpl
def atr_bench_text_encoders() -> list[TextEncoderSpec]:
    return [
        TextEncoderSpec(
            name="word2vec",
            description="skip-gram word2vec (300-d) trained on the training captions",
            build=Word2VecEncoder,
            options=(
                Option("epochs", int, 30, "training passes over the captions"),
                Option("window", int, 5, "context window, in words each side"),
                Option("min_count", int, 1, "ignore words rarer than this"),
                Option("seed", int, 0, "training seed (training is deterministic)"),
            ),
            dim=word2vec.DIM,
        ),
        TextEncoderSpec(
            name="w2v",
            description="the seed's precomputed GoogleNews word2vec features (w2v_<split>.pkl)",
            build=W2VPickle,
            dim=w2v_pickle.DIM,
        ),
    ]
