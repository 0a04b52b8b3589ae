"""Every built-in pooling equals its plain reference (``atr_bench/perf/references.py``), and
the vectorised baselines the throughput suite times (``atr_bench/perf/baselines.py``) equal it
too: same outputs and same gradients (input and every parameter) on padded batches whose padding
holds garbage. Tolerances: float64 1e-10 (the formulas agree to rounding); float32 atol 1e-5,
rtol 1e-4 (different summation orders); bf16 against the float64 reference, atol 2e-2."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from atr_bench.components.poolings import plugin as poolings
from atr_bench.components.poolings import simple, vlad_function
from atr_bench.perf.baselines import BASELINES
from atr_bench.perf.references import REFERENCES

SPECS = {spec.name: spec for spec in poolings.atr_bench_poolings()}
D = 6
OPTIONS = {
    "lstm": {"hidden": 5, "layers": 2, "bidirectional": True},
    "transformer": {"d_model": 8, "heads": 2, "layers": 2},
    "netvlad": {"clusters": 3, "ghost_clusters": 2},
    "netrvlad": {"clusters": 3, "ghost_clusters": 2},
}
LENGTHS = [9, 5, 1, 7]
FRAMES = 11
TOLERANCES = {
    torch.float64: {"atol": 1e-10, "rtol": 1e-10},
    torch.float32: {"atol": 1e-5, "rtol": 1e-4},
}


PADDING = {
    "non-finite": [float("inf"), float("nan"), -1e30, 1e6],
    "finite": [0.0, -1e30, 1e6, 3.5],
}
"""Garbage for the padding: with inf or NaN (the poolings must mask a copy) and without (the
fast paths read the frames as they are and must still ignore the padding)."""


def batch(
    dtype: torch.dtype, seed: int = 0, padding: str = "non-finite"
) -> tuple[torch.Tensor, torch.Tensor]:
    """A padded batch with ``PADDING[padding]`` values in the padding."""
    gen = torch.Generator().manual_seed(seed)
    mask = torch.arange(FRAMES)[None, :] < torch.tensor(LENGTHS)[:, None]
    x = torch.randn(len(LENGTHS), FRAMES, D, generator=gen, dtype=torch.float64)
    garbage = torch.tensor(PADDING[padding], dtype=torch.float64)
    fill = garbage[torch.randint(len(garbage), x.shape, generator=gen)]
    return torch.where(mask[..., None], x, fill).to(dtype), mask


def outputs_and_gradients(module, x, mask, grad) -> list[torch.Tensor]:
    """The output, then the gradients of the input and of every parameter, in order."""
    x = x.clone().requires_grad_(True)
    module.zero_grad(set_to_none=True)
    out = module(x, mask)
    out.backward(grad)
    return [t.detach().clone() for t in (out, x.grad, *(p.grad for p in module.parameters()))]


def built(name: str, dtype: torch.dtype):
    torch.manual_seed(0)
    return SPECS[name].build(D, **OPTIONS.get(name, {})).to(dtype).eval()


def test_every_builtin_pooling_has_a_reference():
    assert set(REFERENCES) == set(SPECS)


def as_on_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the poolings take the paths they take on a GPU, which read nothing back to decide
    (``simple.reads_without_waiting`` false), on CPU tensors."""
    for module in (simple, vlad_function):
        monkeypatch.setattr(module, "reads_without_waiting", lambda x: False)


@pytest.mark.parametrize("paths", ["cpu", "gpu"], ids=["cpu-paths", "gpu-paths"])
@pytest.mark.parametrize("padding", list(PADDING))
@pytest.mark.parametrize("dtype", list(TOLERANCES), ids=str)
@pytest.mark.parametrize("name", sorted(SPECS))
def test_builtin_equals_reference(name, dtype, padding, paths, monkeypatch):
    if paths == "gpu":
        as_on_a_gpu(monkeypatch)
    module = built(name, dtype)
    reference = REFERENCES[name](module)
    x, mask = batch(dtype, padding=padding)
    grad = torch.randn(len(LENGTHS), module.out_dim, dtype=dtype)
    got = outputs_and_gradients(module, x, mask, grad)
    want = outputs_and_gradients(reference, x, mask, grad)
    assert len(got) == len(want) == 2 + len(list(module.parameters()))
    for index, (a, b) in enumerate(zip(got, want, strict=True)):
        assert torch.isfinite(a).all(), index
        torch.testing.assert_close(a, b, **TOLERANCES[dtype], msg=lambda m, i=index: f"#{i}: {m}")
    assert (got[1][~mask] == 0).all()  # no gradient flows into padding


@pytest.mark.parametrize("assign_norm", ["none", "batch"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("dtype", list(TOLERANCES), ids=str)
@pytest.mark.parametrize("name", sorted(BASELINES))
def test_builtin_equals_its_vectorised_baseline(name, dtype, training, assign_norm):
    """So that a speed-up against the baseline compares two computations of one result."""
    if assign_norm == "batch" and "vlad" not in name:
        pytest.skip("only VLAD has an assignment BatchNorm")
    extra = {"assign_norm": assign_norm} if "vlad" in name else {}
    torch.manual_seed(0)
    module = SPECS[name].build(D, **OPTIONS.get(name, {}), **extra).to(dtype).train(training)
    x, mask = batch(dtype)
    grad = torch.randn(len(LENGTHS), module.out_dim, dtype=dtype)
    want = outputs_and_gradients(BASELINES[name](module), x, mask, grad)
    got = outputs_and_gradients(module, x, mask, grad)
    for index, (a, b) in enumerate(zip(got, want, strict=True)):
        assert torch.isfinite(b).all(), index
        torch.testing.assert_close(a, b, **TOLERANCES[dtype], msg=lambda m, i=index: f"#{i}: {m}")


def test_baselines_only_for_poolings_that_are_not_torch_modules_already():
    assert set(BASELINES) == set(SPECS) - {"lstm", "transformer"}


def float64_case(name: str) -> tuple:
    """A float64 module, padded batch and output gradient, and the reference's results."""
    module = built(name, torch.float64)
    x, mask = batch(torch.float64)
    grad = torch.randn(len(LENGTHS), module.out_dim, dtype=torch.float64)
    return module, x, mask, grad, outputs_and_gradients(REFERENCES[name](module), x, mask, grad)


@pytest.mark.parametrize("name", ["netvlad", "netrvlad"])
def test_vlad_in_bf16_stays_close_to_the_float64_reference(name):
    module, x, mask, grad, want = float64_case(name)
    got = outputs_and_gradients(module.to(torch.bfloat16), x.bfloat16(), mask, grad.bfloat16())
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a.double(), b, atol=2e-2, rtol=2e-2)


@pytest.mark.parametrize("name", ["netvlad", "netrvlad"])
def test_vlad_under_autocast_runs_in_bf16_and_trains_fp32_parameters(name):
    module, x, mask, grad, want = float64_case(name)
    module.float()
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the CPU twin of the trainer's CUDA amp
        got = outputs_and_gradients(module, x.float(), mask, grad.float())
    assert got[0].dtype == torch.bfloat16
    assert all(g.dtype == torch.float32 for g in got[1:])
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a.double(), b, atol=2e-2, rtol=2e-2)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["netvlad", "netrvlad"])
def test_compiled_vlad_equals_reference(name):
    module = SPECS[name].build(D, **OPTIONS[name], torch_compile=True)
    x, mask = batch(torch.float32)
    grad = torch.randn(len(LENGTHS), module.out_dim)
    got = outputs_and_gradients(module, x, mask, grad)
    want = outputs_and_gradients(REFERENCES[name](module), x, mask, grad)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, **TOLERANCES[torch.float32])


MAX_PATHS = {
    "per-clip": {"PER_CLIP_MIN_ELEMENTS": 0},
    "chunks-of-1": {"PER_CLIP_MIN_ELEMENTS": 10**9, "CPU_CHUNK_BYTES": 1},
    "chunks-of-2": {"PER_CLIP_MIN_ELEMENTS": 10**9, "CPU_CHUNK_BYTES": 2 * FRAMES * D * 8},
}


@pytest.mark.parametrize("shuffled", [False, True], ids=["prefix-mask", "scattered-mask"])
@pytest.mark.parametrize("path", list(MAX_PATHS))
def test_max_on_every_cpu_path_equals_reference(monkeypatch, path, shuffled):
    """CPU max pools large clips one by one under a prefix mask (other masks: masked chunks),
    or masks a few clips at a time; every path must give the reference's numbers."""
    for name, value in MAX_PATHS[path].items():
        monkeypatch.setattr(simple, name, value)
    module = built("max", torch.float64)
    x, mask = batch(torch.float64)
    if shuffled:  # the same real frames per clip, no longer a prefix
        order = torch.randperm(FRAMES, generator=torch.Generator().manual_seed(1))
        x, mask = x[:, order], mask[:, order]
    assert (simple.prefix_lengths(mask) is None) == shuffled
    grad = torch.randn(len(LENGTHS), module.out_dim, dtype=torch.float64)
    got = outputs_and_gradients(module, x, mask, grad)
    want = outputs_and_gradients(REFERENCES["max"](module), x, mask, grad)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, **TOLERANCES[torch.float64])


def test_prefix_lengths_only_for_non_empty_prefixes():
    assert simple.prefix_lengths(torch.tensor([[1, 1, 0], [1, 0, 0]]).bool()) == [2, 1]
    assert simple.prefix_lengths(torch.tensor([[1, 1, 0], [0, 0, 0]]).bool()) is None
    assert simple.prefix_lengths(torch.tensor([[1, 0, 1]]).bool()) is None


def _unit_mean(frames: torch.Tensor) -> torch.Tensor:
    """The paper's code's readout of one clip's real frames, literally."""
    frames = frames / frames.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    mean = frames.mean(0)
    return mean / mean.norm().clamp_min(1e-12)


@pytest.mark.parametrize("name", ["mean", "lstm"])
def test_normalised_mean_readout_equals_the_formula(name):
    """Per clip: its real frames' outputs (the features; the LSTM run on the clip alone),
    each L2-normalised, averaged, L2-normalised; gradients finite and none into padding."""
    torch.manual_seed(0)
    module = SPECS[name].build(D, **OPTIONS.get(name, {}), readout="normalised_mean").double()
    x, mask = batch(torch.float64)
    clips = [clip[keep] for clip, keep in zip(x, mask, strict=True)]
    if name == "lstm":
        clips = [module.lstm(clip[None])[0][0] for clip in clips]
    want = torch.stack([_unit_mean(clip) for clip in clips])
    x = x.clone().requires_grad_(True)
    got = module(x, mask)
    torch.testing.assert_close(got, want, **TOLERANCES[torch.float64])
    got.backward(torch.randn_like(got))
    assert torch.isfinite(x.grad).all() and (x.grad[~mask] == 0).all()


@pytest.mark.parametrize("padding", list(PADDING))
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("dtype", list(TOLERANCES), ids=str)
@pytest.mark.parametrize("name", ["netvlad", "netrvlad"])
def test_vlad_with_assignment_batch_norm_equals_reference(name, dtype, training, padding):
    torch.manual_seed(0)
    module = SPECS[name].build(D, **OPTIONS[name], assign_norm="batch").to(dtype)
    bn = module.assign_norm
    with torch.no_grad():  # running statistics and an affine map away from the identity
        bn.running_mean.uniform_(-0.5, 0.5), bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5), bn.bias.uniform_(-0.5, 0.5)
    module.train(training)
    x, mask = batch(dtype, padding=padding)
    grad = torch.randn(len(LENGTHS), module.out_dim, dtype=dtype)
    before = (bn.running_mean.clone(), bn.running_var.clone())
    got = outputs_and_gradients(module, x, mask, grad)
    after = (bn.running_mean.clone(), bn.running_var.clone())
    want = outputs_and_gradients(REFERENCES[name](module), x, mask, grad)
    assert len(got) == len(want) == 2 + len(list(module.parameters()))
    for index, (a, b) in enumerate(zip(got, want, strict=True)):
        assert torch.isfinite(a).all(), index
        torch.testing.assert_close(a, b, **TOLERANCES[dtype], msg=lambda m, i=index: f"#{i}: {m}")
    assert (got[1][~mask] == 0).all()
    if training:  # updated once, as nn.BatchNorm1d would from the real frames' logits
        a = module.assign
        rows = (torch.where(mask[..., None], x, 0.0) @ a.weight.T + a.bias)[mask].detach()
        stats = [s.clone() for s in before]
        F.batch_norm(rows, *stats, training=True, momentum=bn.momentum, eps=bn.eps)
        torch.testing.assert_close(after, tuple(stats), **TOLERANCES[dtype])
    else:
        assert all(torch.equal(b, a) for a, b in zip(after, before, strict=True))


def test_vlad_batch_norm_under_autocast_trains_fp32_parameters():
    module = SPECS["netrvlad"].build(D, **OPTIONS["netrvlad"], assign_norm="batch").train()
    x, mask = batch(torch.float32, padding="finite")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = outputs_and_gradients(module, x, mask, torch.randn(len(LENGTHS), module.out_dim))
    assert got[0].dtype == torch.bfloat16 and all(torch.isfinite(g).all() for g in got)
    assert all(g.dtype == torch.float32 for g in got[1:])
    assert module.assign_norm.weight.grad.abs().sum() > 0
