"""Typed plugin options: conversion, validation and messages that name the valid options."""

from __future__ import annotations

import pytest

from atr_bench.cli.main import main
from atr_bench.errors import AtrBenchError
from atr_bench.plugins.specs import Option, PoolingSpec, Requirement, Rule, parse_option_strings

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


RULED = PoolingSpec(
    name="ruled",
    description="test",
    build=lambda in_dim, **opts: None,
    options=(
        Option("heads", int, 4, minimum=1),
        Option("width", int, 16, minimum=1),
        Option("rate", float, 0.1, rule=Rule(lambda p: 0.0 <= p < 1.0, "in [0, 1)")),
    ),
    requirements=(
        Requirement("heads", lambda v: v["width"] % v["heads"] == 0, "a divisor of width={width}"),
    ),
)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"heads": "0"}, "heads=0 must be >= 1"),
        ({"rate": "1"}, r"rate=1.0 must be in \[0, 1\)"),
        ({"heads": "3"}, "heads=3 must be a divisor of width=16"),
    ],
)
def test_rules_and_requirements_are_checked_once_by_the_spec(given, message):
    with pytest.raises(AtrBenchError, match=rf"^pooling 'ruled': option {message}$"):
        RULED.resolve_options(given)
    assert RULED.resolve_options({"heads": "8", "rate": "0"}) == {
        "heads": 8,
        "width": 16,
        "rate": 0,
    }


def test_an_error_names_the_flag_the_value_came_from():
    with pytest.raises(AtrBenchError, match=r"^--pooling-opt heads=3: option heads of pooling "):
        RULED.resolve_options({"heads": "3"}, flag="--pooling-opt")
    with pytest.raises(AtrBenchError, match=r"^--pooling-opt hedas=3: pooling 'ruled' has no opt"):
        RULED.resolve_options({"hedas": "3"}, flag="--pooling-opt")
    broken_default = r"option heads=4 must be a divisor of width=6; set it with --pooling-opt heads"
    with pytest.raises(AtrBenchError, match=broken_default):
        RULED.resolve_options({"width": "6"}, flag="--pooling-opt")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--pooling-opt", "clusters=0"],
            "--pooling-opt clusters=0: option clusters of pooling 'netrvlad' must be >= 1",
        ),
        (
            ["--text-pooling", "transformer", "--text-pooling-opt", "d_model=10"],
            "pooling 'transformer': option heads=4 must be a divisor of d_model=10; "
            "set it with --text-pooling-opt heads=...",
        ),
        (
            ["--dataset-opt", "train=many"],
            "--dataset-opt train=many: option train of dataset 'synthcaps' is not a valid int",
        ),
    ],
)
def test_the_command_line_gets_one_line_naming_the_flag(tmp_path, capsys, flags, message):
    code = main(["run", "--data-root", str(tmp_path), "--runs-dir", str(tmp_path), *flags])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert message in err
