"""Chance levels against an exhaustive count of every ranking of a small test split."""

from __future__ import annotations

from itertools import permutations

import pytest

from atr_bench.report.chance import ORDER_CHANCE, chance_levels


@pytest.mark.parametrize("captions_per_clip", [(1, 2, 2), (5, 5, 5, 5), (3, 1)])
def test_chance_levels_count_every_ranking(captions_per_clip: tuple[int, ...]) -> None:
    clip_of = [clip for clip, n in enumerate(captions_per_clip) for _ in range(n)]
    n_clips, n_captions = len(captions_per_clip), len(clip_of)
    levels = chance_levels(captions_per_clip)
    for k in (1, 5, 10):
        # t2a: a caption's clip is in the top k of a random order of the clips
        t2a = [min(order.index(0), n_clips) < k for order in permutations(range(n_clips))]
        assert levels[f"t2a_R{k}"] == pytest.approx(100 * sum(t2a) / len(t2a))
        # a2t: some caption of the clip is in the top k of a random order of all captions
        orders = list(permutations(range(n_captions))) if n_captions <= 8 else None
        if orders is None:
            continue
        hits = [
            any(clip_of[caption] == clip for caption in order[:k])
            for clip in range(n_clips)
            for order in orders
        ]
        assert levels[f"a2t_R{k}"] == pytest.approx(100 * sum(hits) / len(hits))
    assert levels["order_acc"] == ORDER_CHANCE


def test_no_split_sizes_leave_only_the_order_chance() -> None:
    assert chance_levels([]) == {"order_acc": ORDER_CHANCE}
