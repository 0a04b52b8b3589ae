"""The buffered linear layer gives autograd's gradients, keeps one weight-gradient buffer for
the run, and stays out of the way where it does not apply."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from atr_bench.run.grad_buffer import GradBufferLinear


def _pair(seed: int = 0) -> tuple[GradBufferLinear, nn.Linear]:
    torch.manual_seed(seed)
    buffered = GradBufferLinear(40, 24)
    plain = nn.Linear(40, 24)
    plain.load_state_dict(buffered.state_dict())
    return buffered, plain


def _backward(layer: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    ((layer(x) - target) ** 2).sum().backward()
    assert x.grad is not None
    return x.grad


def test_gradients_are_autograds() -> None:
    buffered, plain = _pair()
    x, target = torch.randn(16, 40), torch.randn(16, 24)
    grad_x = _backward(buffered, x, target)
    torch.testing.assert_close(grad_x, _backward(plain, x, target))
    for mine, theirs in zip(buffered.parameters(), plain.parameters(), strict=True):
        assert mine.grad is not None and theirs.grad is not None
        torch.testing.assert_close(mine.grad, theirs.grad)


def test_gradients_accumulate_until_cleared() -> None:
    buffered, plain = _pair(1)
    batches = [(torch.randn(8, 40), torch.randn(8, 24)) for _ in range(3)]
    for x, target in batches:  # no zero_grad: both add up the three gradients
        _backward(buffered, x, target)
        _backward(plain, x, target)
    assert buffered.weight.grad is not None and plain.weight.grad is not None
    torch.testing.assert_close(buffered.weight.grad, plain.weight.grad)


def test_one_buffer_for_the_run() -> None:
    buffered, plain = _pair(2)
    optimiser = torch.optim.SGD(buffered.parameters(), lr=0.1)
    reference = torch.optim.SGD(plain.parameters(), lr=0.1)
    places = set()
    for _ in range(4):
        x, target = torch.randn(8, 40), torch.randn(8, 24)
        for layer, opt in ((buffered, optimiser), (plain, reference)):
            opt.zero_grad(set_to_none=True)
            _backward(layer, x, target)
            opt.step()
        assert buffered.weight.grad is not None
        places.add(buffered.weight.grad.data_ptr())
    assert len(places) == 1  # the same memory at every step, overwritten
    torch.testing.assert_close(buffered.weight, plain.weight)
    assert set(buffered.state_dict()) == set(plain.state_dict())  # no extra state saved


def test_plain_path_without_grad_or_under_autocast() -> None:
    buffered, plain = _pair(3)
    x = torch.randn(4, 40)
    with torch.no_grad():
        torch.testing.assert_close(buffered(x), plain(x))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = buffered(x.requires_grad_(True))
    assert out.dtype == torch.bfloat16 and out.grad_fn is not None
    assert "Buffered" not in type(out.grad_fn).__name__
    frozen = GradBufferLinear(40, 24).requires_grad_(False)
    assert frozen(torch.randn(4, 40, requires_grad=True)).grad_fn is not None
    assert frozen.weight.grad is None


def _ops(call: Callable[[], object]) -> set[str]:
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        call()
    return {event.key for event in prof.key_averages()}


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="torch built without oneDNN")
def test_training_and_evaluation_products_go_through_onednn() -> None:
    buffered, plain = _pair(5)
    x, target = torch.randn(16, 40), torch.randn(16, 24)
    ops = _ops(lambda: _backward(buffered, x, target))
    assert "mkldnn::_linear_pointwise" in ops  # forward and the input's gradient
    assert "aten::mm" in ops  # the weight's gradient, into the buffer
    with torch.no_grad():
        assert "mkldnn::_linear_pointwise" in _ops(lambda: buffered(x))
    assert "mkldnn::_linear_pointwise" not in _ops(lambda: _backward(plain, x, target))


def test_a_better_epoch_is_copied_into_the_best_states_tensors() -> None:
    from atr_bench.run.training import _copy_state

    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    best = _copy_state(model)
    places = {k: v.data_ptr() for k, v in best.items()}
    with torch.no_grad():
        model[0].weight.add_(1.0)
    again = _copy_state(model, into=best)
    assert again is best and {k: v.data_ptr() for k, v in again.items()} == places
    for k, v in model.state_dict().items():
        assert torch.equal(again[k], v) and again[k].data_ptr() != v.data_ptr()
    other = _copy_state(nn.Linear(4, 3), into=best)  # other entries: a new copy
    assert other is not best and set(other) == {"weight", "bias"}
