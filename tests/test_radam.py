"""atr-bench's RAdam takes torch.optim.RAdam's steps up to float rounding, unrectified and
rectified, with decoupled or L2 weight decay, and the two resume each other's state."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import torch

from atr_bench.run.radam import RAdam

SETTINGS = {"lr": 0.01, "betas": (0.95, 0.999), "eps": 1e-5, "weight_decay": 1e-3}


def _params(seed: int = 0) -> list[torch.nn.Parameter]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(shape, generator=gen)) for shape in ((40, 30), (30,))]


def _step(optimizer: torch.optim.Optimizer, params, grads) -> None:
    for p, g in zip(params, grads, strict=True):
        p.grad = None if g is None else g.clone()
    optimizer.step()


@pytest.mark.parametrize("decoupled", [True, False])
def test_steps_equal_torchs_radam_up_to_rounding(decoupled):
    ours, theirs = _params(), _params()
    mine = RAdam(ours, decoupled_weight_decay=decoupled, **SETTINGS)
    torchs = torch.optim.RAdam(theirs, decoupled_weight_decay=decoupled, **SETTINGS)
    gen = torch.Generator().manual_seed(1)
    for step in range(40):  # the first five are not rectified (beta2 0.999)
        grads = [torch.randn(p.shape, generator=gen) for p in ours]
        if step == 3:
            grads[1] = None  # a parameter without a gradient skips the step
        _step(mine, ours, grads)
        _step(torchs, theirs, grads)
        for a, b in zip(ours, theirs, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    assert [int(mine.state[p]["step"]) for p in ours] == [40, 39]


def test_a_gradient_laid_out_unlike_its_parameter_is_still_stepped_right():
    """torch's fused kernel reads a parameter, its gradient and its moments as flat arrays:
    given a gradient of other strides than the parameter's it updates the wrong elements
    without an error. Such a parameter goes through torch's per-tensor path."""
    ours, theirs = _params(), _params()
    mine = RAdam(ours, decoupled_weight_decay=True, **SETTINGS)
    torchs = torch.optim.RAdam(theirs, decoupled_weight_decay=True, **SETTINGS)
    gen = torch.Generator().manual_seed(2)
    for _ in range(8):  # past the unrectified steps
        grads = [torch.randn(p.shape, generator=gen) for p in ours]
        for p, g in zip(ours, grads, strict=True):
            p.grad = g.t().contiguous().t() if g.dim() == 2 else g.clone()  # column-major
        assert ours[0].grad.stride() != ours[0].stride()
        mine.step()
        _step(torchs, theirs, grads)
        for a, b in zip(ours, theirs, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


def test_each_resumes_the_others_state():
    ours, theirs = _params(), _params()
    mine = RAdam(ours, decoupled_weight_decay=True, **SETTINGS)
    gen = torch.Generator().manual_seed(1)
    for _ in range(8):
        _step(mine, ours, [torch.randn(p.shape, generator=gen) for p in ours])
    with torch.no_grad():
        for a, b in zip(ours, theirs, strict=True):
            b.copy_(a)
    torchs = torch.optim.RAdam(theirs, decoupled_weight_decay=True, **SETTINGS)
    torchs.load_state_dict(copy.deepcopy(mine.state_dict()))  # loading shares the tensors
    again = RAdam(_params(), decoupled_weight_decay=True, **SETTINGS)
    again.load_state_dict(copy.deepcopy(torchs.state_dict()))
    grads = [torch.randn(p.shape, generator=gen) for p in ours]
    _step(mine, ours, grads)
    _step(torchs, theirs, grads)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    assert int(again.state[again.param_groups[0]["params"][0]]["step"]) == 8


def test_a_state_loaded_after_stepping_steps_from_its_own_count():
    """The steps taken are kept on the host beside the state; a loaded state (here, one from
    three steps back, where the next step is still unrectified) is stepped from its count."""
    ours, fresh = _params(), _params()
    mine = RAdam(ours, decoupled_weight_decay=True, **SETTINGS)
    gen = torch.Generator().manual_seed(2)
    saved = None
    for taken in range(8):
        if taken == 3:
            saved = copy.deepcopy(mine.state_dict())
            with torch.no_grad():
                for a, b in zip(ours, fresh, strict=True):
                    b.copy_(a)
        _step(mine, ours, [torch.randn(p.shape, generator=gen) for p in ours])
    other = RAdam(fresh, decoupled_weight_decay=True, **SETTINGS)
    other.load_state_dict(copy.deepcopy(saved))
    mine.load_state_dict(copy.deepcopy(saved))
    with torch.no_grad():
        for a, b in zip(ours, fresh, strict=True):
            a.copy_(b)
    grads = [torch.randn(p.shape, generator=gen) for p in ours]
    _step(mine, ours, grads)
    _step(other, fresh, grads)
    for a, b in zip(ours, fresh, strict=True):
        assert torch.equal(a, b)
    assert int(mine.state[ours[0]]["step"]) == 4


@pytest.mark.parametrize("decoupled", [True, False])
def test_the_first_step_equals_the_update_from_zero_moments(decoupled):
    """The moments are allocated unfilled and written by the first step: its parameters and
    moments equal, bit for bit, the update from zeroed moments."""
    ours, ref = _params(), _params()
    mine = RAdam(ours, decoupled_weight_decay=decoupled, **SETTINGS)
    grads = [torch.randn(p.shape, generator=torch.Generator().manual_seed(2)) for p in ours]
    _step(mine, ours, grads)
    beta1, beta2 = SETTINGS["betas"]
    lr, decay = SETTINGS["lr"], SETTINGS["weight_decay"]
    with torch.no_grad():
        for p, q, g in zip(ours, ref, grads, strict=True):
            m, v = torch.zeros_like(q), torch.zeros_like(q)
            if decoupled:
                q.mul_(1 - lr * decay)
            else:
                g = g.add(q, alpha=decay)
            m.lerp_(g, 1 - beta1)
            v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            q.add_(m, alpha=-lr / (1 - beta1))
            state = mine.state[p]
            assert torch.equal(state["exp_avg"], m) and torch.equal(state["exp_avg_sq"], v)
            assert torch.equal(p, q)


def test_the_protocols_optimiser_never_imports_the_compiler():
    """torch.optim wraps ``add_param_group``, ``zero_grad`` and the state dict methods so that
    torch.compile leaves them alone, and the wrapper imports ``torch._dynamo`` (about a second
    on the CPU) at its first call; the protocol's optimiser calls them unwrapped."""
    probe = """
import sys, torch
from atr_bench.plugins.specs import OptimizerSettings
from atr_bench.run.optim import build_optimizer
model = torch.nn.Linear(3, 2)
optimizer, scheduler = build_optimizer(model.parameters(), 0.1, 0.01, 0.9, OptimizerSettings())
for _ in range(7):  # past Lookahead's k=6
    optimizer.zero_grad(set_to_none=True)
    model(torch.ones(4, 3)).sum().backward()
    optimizer.step()
    scheduler.step()
optimizer.load_state_dict(optimizer.state_dict())
scheduler.load_state_dict(scheduler.state_dict())
print("torch._dynamo" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"]
