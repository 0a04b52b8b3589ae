"""Typed plugin options: conversion, validation and messages that name the valid options."""

from __future__ import annotations

import pytest

from atr_bench.errors import AtrBenchError
from atr_bench.plugins.specs import Option, PoolingSpec, parse_option_strings

SPEC = PoolingSpec(
    name="vlad",
    description="test",
    build=lambda in_dim, **opts: None,
    options=(
        Option("clusters", int, 12),
        Option("alpha", float, 1.0),
        Option("bias", bool, True),
        Option("mode", str, "a", choices=("a", "b")),
    ),
    text_defaults={"clusters": 20},
)


def test_defaults_base_and_given_layer_in_order():
    assert SPEC.resolve_options() == {"clusters": 12, "alpha": 1.0, "bias": True, "mode": "a"}
    resolved = SPEC.resolve_options({"alpha": "0.5", "bias": "no"}, base=SPEC.text_defaults)
    assert resolved == {"clusters": 20, "alpha": 0.5, "bias": False, "mode": "a"}
    assert SPEC.resolve_options({"clusters": "16"}, base=SPEC.text_defaults)["clusters"] == 16


def test_unknown_option_names_the_valid_ones():
    with pytest.raises(AtrBenchError, match="no option 'clusterz'; valid options: alpha, bias"):
        SPEC.resolve_options({"clusterz": "3"})


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"clusters": "many"}, "clusters='many' is not a valid int"),
        ({"clusters": "1.5"}, "is not a valid int"),
        ({"bias": "maybe"}, "bias='maybe' is not a valid bool"),
        ({"mode": "c"}, "mode='c' must be one of a, b"),
        ({"clusters": True}, "is not a valid int"),
    ],
)
def test_bad_values_are_clear_errors(given, message):
    with pytest.raises(AtrBenchError, match=message):
        SPEC.resolve_options(given)


def test_parse_option_strings():
    assert parse_option_strings(["a=1", " b = x "], "--pooling-opt") == {"a": "1", "b": "x"}
    with pytest.raises(AtrBenchError, match="expected KEY=VALUE"):
        parse_option_strings(["clusters"], "--pooling-opt")
