"""Conformance kit: the plugin contract (``atr_bench.plugins.contract``) as reusable checks a
plugin author runs on their plugin.

The harness runs the same checks on every built-in. Each check takes the plugin's spec and the
options to build it with, and raises ``ConformanceError`` (one line: which plugin, which rule,
what to fix) when the plugin breaks the contract. In a plugin's tests::

    import pytest
    from atr_bench.dev.conformance import POOLING_CHECKS, check_spec
    from my_plugin import SPEC

    @pytest.mark.parametrize("check", [check_spec, *POOLING_CHECKS], ids=lambda c: c.__name__)
    def test_conformance(check):
        check(SPEC)
"""

from atr_bench.dev.conformance.base import ConformanceError, check_spec, conforms
from atr_bench.dev.conformance.datasets import (
    DATASET_CHECKS,
    build_dataset,
    check_dataset,
    check_dataset_defaults,
    check_dataset_features,
    check_dataset_order,
    check_dataset_splits,
)
from atr_bench.dev.conformance.extractors import check_extractor
from atr_bench.dev.conformance.poolings import (
    FINITE_GARBAGE,
    GARBAGE,
    IN_DIM,
    POOLING_CHECKS,
    build_pooling,
    check_pooling,
    check_pooling_determinism,
    check_pooling_finite,
    check_pooling_gradients,
    check_pooling_out_dim,
    check_pooling_padding,
    check_pooling_padding_content,
    padded_batch,
)
from atr_bench.dev.conformance.text_encoders import (
    CAPTIONS,
    CORPUS,
    TEXT_ENCODER_CHECKS,
    build_text_encoder,
    check_text_encoder,
    check_text_encoder_determinism,
    check_text_encoder_shapes,
)

__all__ = [
    "CAPTIONS",
    "CORPUS",
    "DATASET_CHECKS",
    "FINITE_GARBAGE",
    "GARBAGE",
    "IN_DIM",
    "POOLING_CHECKS",
    "TEXT_ENCODER_CHECKS",
    "ConformanceError",
    "build_dataset",
    "build_pooling",
    "build_text_encoder",
    "check_dataset",
    "check_dataset_defaults",
    "check_dataset_features",
    "check_dataset_order",
    "check_dataset_splits",
    "check_extractor",
    "check_pooling",
    "check_pooling_determinism",
    "check_pooling_finite",
    "check_pooling_gradients",
    "check_pooling_out_dim",
    "check_pooling_padding",
    "check_pooling_padding_content",
    "check_spec",
    "check_text_encoder",
    "check_text_encoder_determinism",
    "check_text_encoder_shapes",
    "conforms",
    "padded_batch",
]
