"""Built-in poolings: shapes, padding never matters, gradients, options, determinism, hooks."""

from __future__ import annotations

import inspect

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from atr_bench.components.poolings import plugin as poolings
from atr_bench.components.poolings.attention import TransformerPooling
from atr_bench.components.poolings.recurrent import LSTMPooling
from atr_bench.components.poolings.simple import MaxPooling, MeanPooling
from atr_bench.components.poolings.vlad import NetRVLAD, NetVLAD
from atr_bench.errors import AtrBenchError
from atr_bench.plugins.registry import Origin, Registry

SPECS = {spec.name: spec for spec in poolings.atr_bench_poolings()}
NAMES = ("mean", "max", "lstm", "transformer", "netvlad", "netrvlad")
CLASSES = {
    "mean": MeanPooling,
    "max": MaxPooling,
    "lstm": LSTMPooling,
    "transformer": TransformerPooling,
    "netvlad": NetVLAD,
    "netrvlad": NetRVLAD,
}
D = 6
SMALL = {
    "lstm": {"hidden": 5, "bidirectional": True, "layers": 2},
    "transformer": {"d_model": 8, "heads": 2, "layers": 2, "max_len": 16},
    "netvlad": {"clusters": 3, "ghost_clusters": 1},
    "netrvlad": {"clusters": 3, "ghost_clusters": 1},
}
GARBAGE = [0.0, 1.0, -7.5, 1e6, -1e30, 1e30, float("inf"), float("-inf"), float("nan")]


def build(name: str, **opts):
    torch.manual_seed(0)
    return resolved_build(name, **{**SMALL.get(name, {}), **opts})


def resolved_build(name: str, **opts):
    """Build as the harness does: options typed and checked by the spec first."""
    spec = SPECS[name]
    return spec.build(D, **spec.resolve_options(opts))


def mask_of(lengths: list[int], frames: int) -> torch.Tensor:
    return torch.arange(frames)[None, :] < torch.tensor(lengths)[:, None]


def test_registration_through_the_hook():
    reg = Registry([(poolings, Origin("atr_bench.components.poolings.plugin", "atr-bench", "0"))])
    assert {f.spec.name for f in reg.all("pooling")} == set(NAMES)
    assert not reg.failures
    assert {n for n in NAMES if reg.get("pooling", n).order_aware} == {"lstm", "transformer"}
    for name in NAMES:
        description = reg.get("pooling", name).description
        assert description and "\n" not in description


@pytest.mark.parametrize(
    ("name", "opts", "expected"),
    [
        ("mean", {}, D),
        ("max", {}, D),
        ("lstm", {"hidden": 7, "bidirectional": False, "layers": 1}, 7),
        ("lstm", {"hidden": 7, "bidirectional": True}, 14),
        ("transformer", {"d_model": 12, "heads": 3}, 12),
        ("netvlad", {"clusters": 4, "ghost_clusters": 0}, 4 * D),
        ("netvlad", {"clusters": 5, "ghost_clusters": 2}, 5 * D),
        ("netrvlad", {"clusters": 2}, 2 * D),
    ],
)
def test_out_dim_matches_output(name, opts, expected):
    module = build(name, **opts).eval()
    x = torch.randn(3, 9, D)
    out = module(x, mask_of([9, 4, 1], 9))
    assert module.out_dim == expected
    assert out.shape == (3, expected)
    assert torch.isfinite(out).all()


def test_default_options_and_text_defaults():
    assert SPECS["netvlad"].build(D).out_dim == 12 * D
    assert SPECS["lstm"].build(D).out_dim == 512
    assert SPECS["transformer"].build(D).out_dim == 256
    for name in ("netvlad", "netrvlad"):
        spec = SPECS[name]
        assert spec.resolve_options()["clusters"] == 12
        assert spec.resolve_options(base=spec.text_defaults)["clusters"] == 20
        assert spec.build(D, **spec.resolve_options(base=spec.text_defaults)).out_dim == 20 * D


@pytest.mark.parametrize("name", NAMES)
def test_option_defaults_match_the_constructors(name):
    params = inspect.signature(CLASSES[name]).parameters
    for option in SPECS[name].options:
        assert params[option.name].default == option.default, option.name


MODULES = {name: build(name).eval() for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=20, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 7), min_size=1, max_size=4),
    extra=st.integers(0, 3),
    garbage=st.lists(st.sampled_from(GARBAGE), min_size=1, max_size=3),
    seed=st.integers(0, 2**16),
)
def test_padding_never_changes_the_output(name, lengths, extra, garbage, seed):
    module = MODULES[name]
    frames = max(lengths) + extra
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(len(lengths), frames, D, generator=gen)
    mask = mask_of(lengths, frames)
    fill = torch.tensor(garbage)[torch.randint(len(garbage), x.shape, generator=gen)]
    x = torch.where(mask[..., None], x, fill)
    with torch.no_grad():
        batched = module(x, mask)
        for row, length in enumerate(lengths):
            alone = module(x[row : row + 1, :length], torch.ones(1, length, dtype=torch.bool))
            torch.testing.assert_close(batched[row : row + 1], alone, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_inputs_and_every_parameter(name):
    module = build(name).train()
    x = torch.randn(3, 8, D, requires_grad=True)
    mask = mask_of([8, 5, 2], 8)
    out = module(x, mask)
    (out * torch.randn_like(out)).sum().backward()
    assert x.grad[mask].abs().sum() > 0
    assert (x.grad[~mask] == 0).all()
    for pname, param in module.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, pname


def test_netvlad_matches_the_formula_clip_by_clip():
    for name, residual in (("netvlad", True), ("netrvlad", False)):
        module = build(name, clusters=4, ghost_clusters=2).eval()
        x = torch.randn(2, 6, D)
        lengths = [6, 3]
        out = module(x, mask_of(lengths, 6))
        for row, length in enumerate(lengths):
            frames = x[row, :length]  # [T, D]
            assign = torch.softmax(frames @ module.assign.weight.T + module.assign.bias, -1)
            clusters = []
            for k in range(4):
                target = module.centroids[k] if residual else torch.zeros(D)
                residuals = (assign[:, k : k + 1] * (frames - target)).sum(0)
                clusters.append(F.normalize(residuals, dim=0))
            expected = F.normalize(torch.cat(clusters), dim=0)
            torch.testing.assert_close(out[row], expected, atol=1e-5, rtol=1e-5)


def test_max_and_mean_values():
    x = torch.tensor([[[1.0, -2.0], [3.0, -4.0], [100.0, 100.0]]])
    mask = mask_of([2], 3)
    assert torch.equal(MaxPooling(2)(x, mask), torch.tensor([[3.0, -2.0]]))
    assert torch.equal(MeanPooling(2)(x, mask), torch.tensor([[2.0, -3.0]]))


def test_lstm_order_matters():
    module = build("lstm").eval()
    x = torch.randn(1, 5, D)
    mask = torch.ones(1, 5, dtype=torch.bool)
    assert not torch.allclose(module(x, mask), module(x.flip(1), mask))


def test_unknown_option_lists_the_valid_ones():
    valid = r"no option 'cluster'; valid options: assign_bias, assign_init, assign_norm, clusters"
    with pytest.raises(AtrBenchError, match=valid):
        resolved_build("netvlad", cluster=3)
    with pytest.raises(AtrBenchError, match=r"no option .hidden.; valid options: padding$"):
        resolved_build("max", hidden=3)
    with pytest.raises(AtrBenchError, match=r"no option 'hidden'; valid options: readout"):
        resolved_build("mean", hidden=3)


@pytest.mark.parametrize(
    ("name", "opts", "message"),
    [
        ("netvlad", {"clusters": 0}, "option clusters=0 must be >= 1"),
        ("netrvlad", {"ghost_clusters": -1}, "option ghost_clusters=-1 must be >= 0"),
        ("netvlad", {"clusters": "many"}, "option clusters='many' is not a valid int"),
        ("netvlad", {"kernel": "cuda"}, "option kernel='cuda' must be one of auto, torch, triton"),
        (
            "netvlad",
            {"kernel": "triton", "torch_compile": "yes"},
            "option kernel='triton' must be auto or torch with torch_compile=true",
        ),
        ("netrvlad", {"assign_norm": "layer"}, "option assign_norm='layer' must be one of none"),
        ("netrvlad", {"padding": "edge"}, "option padding='edge' must be one of masked, zeros"),
        ("lstm", {"hidden": 0}, "option hidden=0 must be >= 1"),
        ("lstm", {"layers": 0}, "option layers=0 must be >= 1"),
        ("lstm", {"bidirectional": "maybe"}, "option bidirectional='maybe' is not a valid bool"),
        ("lstm", {"readout": "mean"}, "option readout='mean' must be one of last, normalised_mean"),
        (
            "transformer",
            {"d_model": 8, "heads": 3},
            "option heads=3 must be a divisor of d_model=8",
        ),
        ("transformer", {"heads": 0}, "option heads=0 must be >= 1"),
        ("transformer", {"dropout": 1.5}, r"option dropout=1.5 must be in \[0, 1\)"),
        ("transformer", {"layers": 0}, "option layers=0 must be >= 1"),
        ("transformer", {"max_len": 0}, "option max_len=0 must be >= 1"),
        ("transformer", {"activation": "tanh"}, "option activation='tanh' must be one of relu"),
        ("mean", {"readout": "max"}, "option readout='max' must be one of mean, normalised_mean"),
    ],
)
def test_invalid_values_are_rejected_by_the_spec(name, opts, message):
    with pytest.raises(AtrBenchError, match=rf"^pooling '{name}': {message}"):
        resolved_build(name, **opts)


def test_string_options_from_the_command_line_are_typed():
    module = resolved_build("lstm", hidden="4", bidirectional="yes")
    assert module.out_dim == 8
    assert resolved_build("transformer", d_model="8", heads="2", dropout="0").out_dim == 8


def test_transformer_too_long_input_names_max_len():
    module = build("transformer", max_len=4)
    with pytest.raises(AtrBenchError, match=r"5 frames but option max_len=4.*max_len=5"):
        module(torch.randn(1, 5, D), torch.ones(1, 5, dtype=torch.bool))


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_given_the_seed(name):
    x = torch.randn(2, 6, D)
    mask = mask_of([6, 3], 6)
    outs = []
    for _ in range(2):
        module = build(name).train()  # seeds, then builds; dropout draws from the seed below
        torch.manual_seed(1)
        outs.append(module(x, mask))
    torch.testing.assert_close(outs[0], outs[1], atol=0, rtol=0)
