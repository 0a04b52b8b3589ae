"""RAdam (Liu et al. 2020) as ``torch.optim.RAdam`` computes it, with each rectified step run
by torch's fused Adam kernel: one pass over each parameter, no temporaries (for contiguous
tensors, which that kernel needs; any other parameter takes torch's per-tensor path).

torch's own RAdam on CPU makes several full-size temporaries per parameter and step (sqrt,
add, div, reciprocal); at the paper's shapes (a 50 M-parameter audio gated unit) each is a
fresh mapping of hundreds of MB that must be faulted in, and the optimiser step took two thirds
of a training step. A rectified RAdam step is an Adam step with another step size and epsilon:

    p -= lr * r * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
       = Adam's step with lr' = lr * r and eps' = eps / sqrt(1 - b2^t)

(``r`` the rectification term), and decoupled weight decay ``p *= 1 - lr * wd`` is AdamW's with
``wd' = wd / r``; so only float rounding separates the two. The first steps, before the
variance is tractable (``rho_t <= 5``), update the moments and step by the first moment alone,
in place. The state is laid out as torch's (``step``, ``exp_avg``, ``exp_avg_sq``), so either
optimiser resumes the other's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, cast

import torch
from torch.optim.adam import adam

RECTIFIED_FROM = 5.0
"""``rho_t`` above which the adaptive step is taken (torch's and the paper's threshold)."""


def _uncompiled(method: Callable[..., Any]) -> Callable[..., Any]:
    """``torch.optim.Optimizer``'s ``method`` without the wrapper that keeps ``torch.compile``
    from tracing it: the wrapper's first call imports ``torch._dynamo``, about a second of a
    run's training phase on the CPU, for a compiler that never traces this optimiser."""
    return cast(Callable[..., Any], getattr(method, "__wrapped__", method))


class RAdam(torch.optim.Optimizer):
    """Rectified Adam with decoupled (``decoupled_weight_decay``) or L2 weight decay."""

    add_param_group = _uncompiled(torch.optim.Optimizer.add_param_group)
    zero_grad = _uncompiled(torch.optim.Optimizer.zero_grad)
    state_dict = _uncompiled(torch.optim.Optimizer.state_dict)
    load_state_dict = _uncompiled(torch.optim.Optimizer.load_state_dict)

    def __init__(
        self,
        params: Iterable[torch.nn.Parameter],
        lr: float,
        betas: tuple[float, float],
        eps: float,
        weight_decay: float,
        decoupled_weight_decay: bool,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)
        # Per parameter, its ``step`` tensor and the steps that holds, kept on the host: reading
        # the tensor on a GPU would wait for the device at every step. A ``step`` tensor other
        # than the one kept (a new state, a loaded one) is read once.
        self._taken: dict[torch.Tensor, tuple[torch.Tensor, int]] = {}

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            by_step: dict[int, list[torch.Tensor]] = {}
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:  # the step on the parameter's device, as fused kernels read it
                    state["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
                    # written whole by the first step (``_momentum_step``), so never zeroed
                    state["exp_avg"] = torch.empty_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.empty_like(p, memory_format=torch.preserve_format)
                    self._taken[p] = (state["step"], 0)
                elif state["step"].device != p.device:  # resumed from torch's RAdam (host)
                    state["step"] = state["step"].to(p.device, torch.float32)
                by_step.setdefault(self._steps_taken(p, state["step"]) + 1, []).append(p)
            for t, params in by_step.items():
                self._update(group, params, t)
        return loss

    def _steps_taken(self, p: torch.Tensor, step: torch.Tensor) -> int:
        """The steps ``p`` has taken, which its state's ``step`` tensor holds."""
        kept = self._taken.get(p)
        return kept[1] if kept is not None and kept[0] is step else int(step)

    def _update(self, group: dict[str, Any], params: list[torch.Tensor], t: int) -> None:
        """Step ``t`` (1-based) of ``params``, all of which have taken ``t - 1`` steps."""
        for p in params:
            self._taken[p] = (self.state[p]["step"], t)
        beta1, beta2 = group["betas"]
        lr, eps, decay = group["lr"], group["eps"], group["weight_decay"]
        decoupled = group["decoupled_weight_decay"]
        states = [self.state[p] for p in params]
        tensors = (
            params,
            [cast(torch.Tensor, p.grad) for p in params],  # step passes those with one
            [s["exp_avg"] for s in states],
            [s["exp_avg_sq"] for s in states],
        )
        steps = [s["step"] for s in states]
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * beta2**t / (1 - beta2**t)
        if rho_t <= RECTIFIED_FROM:
            _momentum_step(*tensors, steps, beta1, beta2, lr, decay, decoupled, t)
            return
        rect = math.sqrt(
            (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
        )
        fused = [_contiguous(*four) for four in zip(*tensors, strict=True)]
        for kernel in (True, False):
            chosen = [i for i, f in enumerate(fused) if f == kernel]
            if not chosen:
                continue
            ps, gs, ms, vs, ts = ([seq[i] for i in chosen] for seq in (*tensors, steps))
            adam(
                ps,
                gs,
                ms,
                vs,
                [],
                ts,
                fused=kernel,
                foreach=False,
                decoupled_weight_decay=decoupled,
                amsgrad=False,
                beta1=beta1,
                beta2=beta2,
                lr=lr * rect,
                weight_decay=decay / rect if decoupled else decay,
                eps=eps / math.sqrt(1 - beta2**t),
                maximize=False,
            )


def _contiguous(*tensors: torch.Tensor) -> bool:
    """Whether a parameter, its gradient and its moments are all contiguous: the fused kernel
    walks their storage as flat arrays (torch 2.13 on the CPU), so a gradient with other
    strides than its parameter's, or a view with gaps, would be updated wrongly without an
    error. Anything else takes torch's per-tensor path (in a run nothing does: parameters are
    contiguous, the moments are made like them and autograd's gradients follow their strides)."""
    return all(t.is_contiguous() for t in tensors)


def _momentum_step(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    exp_avgs: list[torch.Tensor],
    exp_avg_sqs: list[torch.Tensor],
    steps: list[torch.Tensor],
    beta1: float,
    beta2: float,
    lr: float,
    decay: float,
    decoupled: bool,
    t: int,
) -> None:
    """An unrectified step, in place: both moments updated, ``p -= lr * m / (1 - b1^t)``.

    The first step writes the moments without reading them, the values the update gives from
    zero moments (``(1 - b1) g`` and ``(1 - b2) g g``, the same products): the state is
    allocated unfilled, which at the AudioCaps shape spares zeroing 570 MB."""
    for p, g, m, v, step in zip(params, grads, exp_avgs, exp_avg_sqs, steps, strict=True):
        step += 1
        if decay and decoupled:
            p.mul_(1 - lr * decay)
        elif decay:
            g = g.add(p, alpha=decay)
        if t == 1:
            torch.mul(g, 1 - beta1, out=m)
            torch.mul(g, 1 - beta2, out=v).mul_(g)
        else:
            m.lerp_(g, 1 - beta1)
            v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        p.add_(m, alpha=-lr / (1 - beta1**t))
