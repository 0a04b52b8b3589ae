"""The order-contrast score: each caption against its own clip's order-swapped twin."""

from __future__ import annotations

import torch

from atr_bench.run.evaluation import pair_accuracy


def test_order_pair_accuracy_counts_wins_and_half_ties():
    # clips 0/1 and 2/3 are order-swapped partners; one caption per clip
    sims = torch.tensor(
        [
            [0.9, 0.1, 0.0, 0.0],  # caption of clip 0 prefers it over clip 1: win
            [0.8, 0.2, 0.0, 0.0],  # caption of clip 1 prefers clip 0: loss
            [0.0, 0.0, 0.5, 0.5],  # caption of clip 2 ties with clip 3: half
            [0.0, 0.0, 0.1, 0.7],  # caption of clip 3 prefers it: win (other columns ignored)
        ]
    )
    assert pair_accuracy(sims, torch.arange(4)) == 62.5
