"""The protocol's optimiser: RAdam inside Lookahead ("Ranger"), decayed by StepLR per epoch."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from pytorch_optimizer import Lookahead

from atr_bench.plugins.specs import OptimizerSettings
from atr_bench.run.radam import RAdam

LOOKAHEAD_K = 6
"""Ranger's defaults (Wright 2019), which the paper's released configs use."""
LOOKAHEAD_ALPHA = 0.5


def build_optimizer(
    params: Iterable[torch.nn.Parameter],
    lr: float,
    weight_decay: float,
    gamma: float,
    settings: OptimizerSettings,
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """Ranger = Lookahead(RAdam); the StepLR decays the inner optimiser's learning rate.
    RAdam with ``decoupled_weight_decay`` computes the paper's code's Ranger step."""
    radam = RAdam(
        params,
        lr=lr,
        betas=settings.betas,
        eps=settings.eps,
        weight_decay=weight_decay,
        decoupled_weight_decay=settings.decoupled,
    )
    optimizer = Lookahead(radam, k=LOOKAHEAD_K, alpha=LOOKAHEAD_ALPHA)
    scheduler = torch.optim.lr_scheduler.StepLR(radam, step_size=1, gamma=gamma)
    return optimizer, scheduler
