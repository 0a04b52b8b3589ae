"""The Triton VLAD kernels against the plain reference and the torch kernel: outputs and every
gradient, with garbage in the padding, on shapes that cross every tile edge. Without a GPU they
run in Triton's interpreter on CPU tensors (``tests/conftest.py``); on a CUDA machine, on it.
Tolerances: float32 atol 1e-5, rtol 1e-4 (summation order); bf16 against the float64
reference, atol 2e-2."""

from __future__ import annotations

import pytest
import torch
from test_pooling_reference import REFERENCES, SPECS, outputs_and_gradients

from atr_bench.components.poolings import vlad_frames, vlad_function
from atr_bench.errors import AtrBenchError

triton = pytest.importorskip("triton", reason="Triton is not installed")
vlad_triton = pytest.importorskip("atr_bench.components.poolings.vlad_triton")
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
if DEVICE == "cpu" and not vlad_triton.interpreting():
    pytest.skip("no GPU and Triton's interpreter is off", allow_module_level=True)

LENGTHS = [40, 33, 1, 17, 0, 29]
"""Lengths across two frame tiles, a one-frame clip and an empty one."""
FRAMES, DIM = 40, 150
"""``DIM`` is no multiple of any tile width."""


def padded_batch(dtype: torch.dtype, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames with inf, NaN and huge values in the padding, on the test device."""
    gen = torch.Generator().manual_seed(seed)
    mask = torch.arange(FRAMES)[None, :] < torch.tensor(LENGTHS)[:, None]
    x = torch.randn(len(LENGTHS), FRAMES, DIM, generator=gen, dtype=torch.float64)
    garbage = torch.tensor([float("inf"), float("nan"), -1e30], dtype=torch.float64)
    fill = garbage[torch.randint(len(garbage), x.shape, generator=gen)]
    return torch.where(mask[..., None], x, fill).to(DEVICE, dtype), mask.to(DEVICE)


def built(name: str, kernel: str, dtype: torch.dtype = torch.float32, **options):
    torch.manual_seed(0)
    opts = {"clusters": 5, "ghost_clusters": 2, **options}
    return SPECS[name].build(DIM, kernel=kernel, **opts).to(DEVICE, dtype).train()


def compare(got: list[torch.Tensor], want: list[torch.Tensor], **tolerance) -> None:
    assert len(got) == len(want)
    for index, (a, b) in enumerate(zip(got, want, strict=True)):
        assert torch.isfinite(a).all(), index
        torch.testing.assert_close(
            a.double(), b.double(), **tolerance, msg=lambda m, i=index: f"#{i}: {m}"
        )


@pytest.mark.parametrize("name", ["netvlad", "netrvlad"])
def test_triton_equals_reference_and_torch_kernel(name):
    x, mask = padded_batch(torch.float32)
    module = built(name, "triton")
    grad = torch.randn(len(LENGTHS), module.out_dim, device=DEVICE)
    got = outputs_and_gradients(module, x, mask, grad)
    compare(
        got, outputs_and_gradients(REFERENCES[name](module), x, mask, grad), atol=1e-5, rtol=1e-4
    )
    module.kernel = "torch"
    compare(got, outputs_and_gradients(module, x, mask, grad), atol=1e-5, rtol=1e-4)
    assert (got[1][~mask] == 0).all()  # no gradient flows into padding


@pytest.mark.parametrize("name", ["netvlad", "netrvlad"])
def test_triton_in_bf16_stays_close_to_the_float64_reference(name):
    x, mask = padded_batch(torch.float64)
    module = built(name, "triton", torch.float64)
    grad = torch.randn(len(LENGTHS), module.out_dim, device=DEVICE, dtype=torch.float64)
    want = outputs_and_gradients(REFERENCES[name](module), x, mask, grad)
    module.to(torch.bfloat16)
    got = outputs_and_gradients(module, x.bfloat16(), mask, grad.bfloat16())
    assert got[0].dtype == torch.bfloat16
    compare(got, want, atol=2e-2, rtol=2e-2)


def test_weight_gradient_split_over_several_batch_groups(monkeypatch):
    """``weigh_all`` sums per-group partials; few target programs force groups of 2, 2, 2."""
    x, mask = padded_batch(torch.float32)
    frames = vlad_triton.TritonFrames(x, mask)
    a = torch.rand(len(LENGTHS), FRAMES, 7, device=DEVICE) * mask[..., None]
    whole = frames.weigh_all(a)
    monkeypatch.setattr(vlad_triton, "TARGET_PROGRAMS", 6)  # 2 tiles -> 3 groups of 2 clips
    torch.testing.assert_close(frames.weigh_all(a), whole, atol=1e-5, rtol=1e-4)
    dense = vlad_frames.DenseFrames(torch.where(mask[..., None], x, 0.0), mask)
    torch.testing.assert_close(whole, dense.weigh_all(a), atol=1e-4, rtol=1e-4)


def test_frames_may_be_a_strided_view():
    x, mask = padded_batch(torch.float32)
    strided = x.transpose(1, 2).contiguous().transpose(1, 2)  # same values, other strides
    module = built("netvlad", "triton")
    torch.testing.assert_close(module(strided, mask), module(x, mask))


def test_auto_takes_triton_only_for_cuda_tensors():
    x = torch.zeros(2, 3, 4)
    assert vlad_function.resolve_kernel("auto", x) == "torch"  # the CPU fallback
    assert vlad_function.resolve_kernel("torch", x) == "torch"
    if torch.cuda.is_available():
        assert vlad_function.resolve_kernel("auto", x.cuda()) == "triton"
        assert vlad_function.resolve_kernel("auto", x.cuda().double()) == "torch"


def test_triton_where_it_cannot_run_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(vlad_triton, "interpreting", lambda: False)
    with pytest.raises(AtrBenchError, match=r"input is on cpu.*kernel=torch"):
        vlad_function.resolve_kernel("triton", torch.zeros(2, 3, 4))
    with pytest.raises(AtrBenchError, match=r"no kernel for torch\.float64"):
        vlad_function.resolve_kernel("triton", torch.zeros(2, 3, 4, dtype=torch.float64))


def test_kernel_option_is_checked_by_the_spec():
    spec = SPECS["netvlad"]
    with pytest.raises(AtrBenchError, match=r"kernel='cuda'.*auto, torch, triton"):
        spec.resolve_options({"kernel": "cuda"})
    with pytest.raises(AtrBenchError, match="torch_compile"):
        spec.resolve_options({"kernel": "triton", "torch_compile": True})


def test_a_kernel_that_fails_to_build_says_how_to_avoid_it(monkeypatch):
    def broken(*args):
        raise RuntimeError("PTX assembly failed")

    monkeypatch.setattr(vlad_triton.TritonFrames, "probs", broken)
    x, mask = padded_batch(torch.float32)
    with pytest.raises(AtrBenchError, match=r"Triton VLAD kernel failed.*PTX.*kernel=torch"):
        built("netrvlad", "triton")(x, mask)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_triton_with_assignment_batch_norm_equals_the_torch_kernel(training):
    x, mask = padded_batch(torch.float32)
    module = built("netvlad", "triton", assign_norm="batch").train(training)
    grad = torch.randn(len(LENGTHS), module.out_dim, device=DEVICE)
    got = outputs_and_gradients(module, x, mask, grad)
    module.kernel = "torch"
    compare(got, outputs_and_gradients(module, x, mask, grad), atol=1e-5, rtol=1e-4)
