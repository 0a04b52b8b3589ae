"""Contrastive losses: hand-computed values, positives masking, gradient direction."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from atr_bench.plugins.registry import registry
from atr_bench.run.losses import info_nce_loss, max_margin_loss

LOSSES = {found.spec.name: found.spec.create() for found in registry().all("loss")}
"""The registered losses, as a run gets them."""

SIMS = [
    [0.6, 0.5, 0.25],
    [0.4, 0.7, 0.6],
    [0.2, 0.1, 0.5],
]
# captions 0 and 1 describe the same clip: (0,1) and (1,0) are positives, not negatives
SHARED = torch.tensor([[True, True, False], [True, True, False], [False, False, True]])


def test_max_margin_two_items():
    sims = torch.tensor([[0.5, 0.4], [0.1, 0.8]])
    # rows: (0,1) 0.2-0.5+0.4 = 0.1, (1,0) 0.2-0.8+0.1 < 0 -> 0
    # columns: clip 0 vs caption 1: 0.2-0.5+0.1 < 0, clip 1 vs caption 0: 0.2-0.8+0.4 < 0
    # mean over 4 terms: 0.1 / 4
    loss = max_margin_loss(sims, torch.eye(2, dtype=torch.bool))
    assert loss.item() == pytest.approx(0.025)


def test_max_margin_skips_shared_clips_and_has_the_right_gradient():
    sims = torch.tensor(SIMS, requires_grad=True)
    loss = max_margin_loss(sims, SHARED)
    # negatives (0,2) (1,2) (2,0) (2,1); rows max(0, 0.2 - s_ii + s_ij):
    #   (0,2) 0.2-0.6+0.25 < 0 -> 0     (1,2) 0.2-0.7+0.6 = 0.1
    #   (2,0) 0.2-0.5+0.2 = -0.1 -> 0   (2,1) 0.2-0.5+0.1 = -0.2 -> 0
    # columns max(0, 0.2 - s_ii + s_ji): clip 0 vs caption 2: 0.2-0.6+0.2 -> 0,
    #   clip 1 vs caption 2: 0.2-0.7+0.1 -> 0, clip 2 vs caption 0: 0.2-0.5+0.25 < 0,
    #   clip 2 vs caption 1: 0.2-0.5+0.6 = 0.3
    # mean over 8 terms: (0.1 + 0.3) / 8 = 0.05
    assert loss.item() == pytest.approx(0.05)
    loss.backward()
    # active terms: row (1,2) = 0.2 - s_11 + s_12 and column (2; caption 1) = 0.2 - s_22 + s_12
    expected = torch.zeros(3, 3)
    expected[1, 2] = 2 / 8
    expected[1, 1] = -1 / 8
    expected[2, 2] = -1 / 8
    assert torch.allclose(sims.grad, expected)


def test_max_margin_with_only_the_diagonal_positive():
    # The same matrix with every off-diagonal pair negative adds row (0,1) 0.2-0.6+0.5 = 0.1,
    # row (1,0) 0.2-0.7+0.4 < 0, column clip 0 vs caption 1 0.2-0.6+0.4 = 0, column clip 1 vs
    # caption 0 0.2-0.7+0.5 = 0: (0.1 + 0.3 + 0.1) / 12 terms.
    loss = max_margin_loss(torch.tensor(SIMS), torch.eye(3, dtype=torch.bool))
    assert loss.item() == pytest.approx(0.5 / 12)


def test_max_margin_margin_and_diagonal_always_positive():
    sims = torch.tensor([[0.5, 0.4], [0.1, 0.8]])
    # margin 1: rows 1-0.5+0.4 = 0.9, 1-0.8+0.1 = 0.3; columns 1-0.5+0.1 = 0.6, 1-0.8+0.4 = 0.6
    no_diagonal = torch.zeros(2, 2, dtype=torch.bool)  # the pairs (i, i) are positives anyway
    assert max_margin_loss(sims, no_diagonal, margin=1.0).item() == pytest.approx(2.4 / 4)


def test_all_positive_batch_gives_zero_with_a_graph():
    sims = torch.tensor(SIMS, requires_grad=True)
    for loss_fn in LOSSES.values():
        loss = loss_fn(sims, torch.ones(3, 3, dtype=torch.bool))
        assert loss.item() == pytest.approx(0.0, abs=1e-7)
        loss.backward()
        assert torch.isfinite(sims.grad).all()
        sims.grad = None


def test_info_nce_two_items():
    sims = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # every row and column: -log(e^1 / (e^1 + e^0)) = log(1 + e^-1)
    eye = torch.eye(2, dtype=torch.bool)
    assert info_nce_loss(sims, eye, temperature=1.0).item() == pytest.approx(
        math.log(1 + math.exp(-1))
    )
    # temperature 0.5 doubles the logits: log(1 + e^-2)
    assert info_nce_loss(sims, eye, temperature=0.5).item() == pytest.approx(
        math.log(1 + math.exp(-2))
    )


def test_info_nce_equals_cross_entropy_without_shared_clips():
    sims = torch.randn(6, 6, generator=torch.Generator().manual_seed(0))
    target = torch.arange(6)
    expected = (F.cross_entropy(sims / 0.05, target) + F.cross_entropy(sims.T / 0.05, target)) / 2
    assert info_nce_loss(sims, torch.eye(6, dtype=torch.bool)).item() == pytest.approx(
        expected.item(), rel=1e-6
    )


def test_info_nce_leaves_other_positives_out_of_the_denominator():
    # All similarities 0, temperature 1: rows 0 and 1 keep 2 of 3 entries -> log 2 each,
    # row 2 keeps 3 -> log 3; columns alike by symmetry. Loss = (2 log 2 + log 3) / 3.
    sims = torch.zeros(3, 3, requires_grad=True)
    loss = info_nce_loss(sims, SHARED, temperature=1.0)
    assert loss.item() == pytest.approx((2 * math.log(2) + math.log(3)) / 3)
    loss.backward()
    assert sims.grad[0, 1] == 0 and sims.grad[1, 0] == 0  # masked pairs get no gradient


@pytest.mark.parametrize("name", ["max_margin", "infonce"])
def test_gradients_pull_matches_up_and_push_negatives_down(name):
    sims = (0.3 * torch.randn(5, 5, generator=torch.Generator().manual_seed(1))).requires_grad_()
    LOSSES[name](sims, torch.eye(5, dtype=torch.bool)).backward()
    grad = sims.grad
    off = ~torch.eye(5, dtype=torch.bool)
    assert (grad.diagonal() < 0).all()  # raising a match's similarity lowers the loss
    assert (grad[off] >= 0).all()  # raising a negative's similarity never lowers it
    assert (grad[off] > 0).any()


def test_losses_registry_and_shape_checks():
    assert set(LOSSES) == {"max_margin", "infonce"}
    assert registry().get("loss", "max_margin").settings == ("margin",)
    assert registry().get("loss", "infonce").settings == ("temperature",)
    with pytest.raises(ValueError, match="square"):
        max_margin_loss(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="differs"):
        info_nce_loss(torch.zeros(2, 2), torch.zeros(3, 3, dtype=torch.bool))
