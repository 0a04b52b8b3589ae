"""Retrieval metrics: hand-computed cases (ties, 5 captions per clip), reference, properties.

atr-bench's own definitions; the other papers' and tools' are in test_metric_definitions.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from atr_bench.errors import AtrBenchError
from atr_bench.run.metrics import METRIC_KEYS, geometric_mean
from atr_bench.run.metrics import retrieval_metrics as all_metrics


def retrieval_metrics(sims, caption_clip) -> dict[str, dict[str, float]]:
    """atr-bench's own metrics of a similarity matrix, in their order."""
    out = all_metrics(sims, caption_clip)
    assert all(tuple(m)[: len(METRIC_KEYS)] == METRIC_KEYS for m in out.values())
    return {direction: {k: m[k] for k in METRIC_KEYS} for direction, m in out.items()}


def approx(expected: dict[str, float]) -> dict[str, float]:
    return pytest.approx(expected, rel=1e-9, abs=1e-9)


def assert_close(got: dict, expected: dict, rel: float = 1e-9) -> None:
    """Both directions equal up to float rounding (pytest.approx does not nest)."""
    assert set(got) == set(expected) == {"t2a", "a2t"}
    for direction in expected:
        assert got[direction] == pytest.approx(expected[direction], rel=rel, abs=1e-9), direction


def test_one_caption_per_clip_with_a_three_way_tie():
    sims = np.array(
        [
            [0.9, 0.1, 0.2],  # caption 0 -> clip 0: highest            t2a rank 1
            [0.8, 0.5, 0.7],  # caption 1 -> clip 1: 0.8, 0.7 above it   t2a rank 3
            [0.3, 0.3, 0.3],  # caption 2 -> clip 2: tied with all three t2a rank (1+2+3)/3 = 2
        ]
    )
    out = retrieval_metrics(sims, np.array([0, 1, 2]))
    # t2a ranks [1, 3, 2]: R1 = 1/3, median 2, mean 6/3 = 2, mAP = (1/1 + 1/3 + 1/2)/3 = 11/18
    assert out["t2a"] == approx(
        {
            "R1": 100 / 3,
            "R5": 100.0,
            "R10": 100.0,
            "R50": 100.0,
            "MedR": 2.0,
            "MeanR": 2.0,
            "mAP10": 100 * 11 / 18,
            "geo": (100 / 3 * 100 * 100) ** (1 / 3),
        }
    )
    # a2t, clip columns: clip 0 [0.9, 0.8, 0.3] -> caption 0 first, rank 1;
    # clip 1 [0.1, 0.5, 0.3] -> caption 1 first, rank 1; clip 2 [0.2, 0.7, 0.3] -> caption 2
    # below 0.7, rank 2. Ranks [1, 1, 2]: R1 2/3, median 1, mean 4/3, mAP (1 + 1 + 1/2)/3 = 5/6
    assert out["a2t"] == approx(
        {
            "R1": 200 / 3,
            "R5": 100.0,
            "R10": 100.0,
            "R50": 100.0,
            "MedR": 1.0,
            "MeanR": 4 / 3,
            "mAP10": 100 * 5 / 6,
            "geo": (200 / 3 * 100 * 100) ** (1 / 3),
        }
    )
    assert tuple(out["t2a"]) == METRIC_KEYS and tuple(out["a2t"]) == METRIC_KEYS


def test_five_captions_per_clip_with_ties():
    # 10 captions (0-4 describe clip 0, 5-9 clip 1), 2 clips. Columns are the a2t query rows.
    clip0 = [0.9, 0.8, 0.5, 0.4, 0.1, 0.95, 0.7, 0.6, 0.3, 0.2]
    clip1 = [0.2, 0.6, 0.6, 0.1, 0.1, 0.6, 0.6, 0.3, 0.1, 0.0]
    sims = torch.tensor([clip0, clip1]).T
    caption_clip = torch.tensor([0] * 5 + [1] * 5)
    out = retrieval_metrics(sims, caption_clip)

    # a2t clip 0, descending: 0.95(c5) 0.9(c0) 0.8(c1) 0.7(c6) 0.6(c7) 0.5(c2) 0.4(c3) 0.3(c8)
    # 0.2(c9) 0.1(c4): its captions rank 2, 3, 6, 7, 10 -> query rank 2,
    # AP = (1/2 + 2/3 + 3/6 + 4/7 + 5/10) / 5 = (115/42) / 5 = 23/42.
    # a2t clip 1: 0.6 x4 (c1 c2 c5 c6) share positions 1-4 -> 2.5; 0.3 (c7) 5; 0.2 (c0) 6;
    # 0.1 x3 (c3 c4 c8) share 7-9 -> 8; 0.0 (c9) 10. Its captions rank 2.5, 2.5, 5, 8, 10 ->
    # query rank 2.5, AP = (1/2.5 + 2/2.5 + 3/5 + 4/8 + 5/10) / 5 = 2.8 / 5 = 0.56.
    # Ranks [2, 2.5]: R1 0 (so geo 0), R5 100, median = mean = 2.25, mAP = (23/42 + 0.56) / 2.
    assert out["a2t"] == approx(
        {
            "R1": 0.0,
            "R5": 100.0,
            "R10": 100.0,
            "R50": 100.0,
            "MedR": 2.25,
            "MeanR": 2.25,
            "mAP10": 100 * (23 / 42 + 0.56) / 2,
            "geo": 0.0,
        }
    )
    # t2a, each caption over (clip 0, clip 1): c0 .9/.2 ->1, c1 .8/.6 ->1, c2 .5/.6 ->2,
    # c3 .4/.1 ->1, c4 .1/.1 tie ->1.5, c5..c9 want clip 1 but clip 0 is higher -> 2 each.
    # Ranks [1,1,2,1,1.5,2,2,2,2,2]: R1 3/10, sorted middle pair (2, 2) -> median 2,
    # mean (3 + 1.5 + 12)/10 = 1.65, mAP = (3*1 + 1/1.5 + 6*1/2)/10 = (20/3)/10 = 2/3.
    assert out["t2a"] == approx(
        {
            "R1": 30.0,
            "R5": 100.0,
            "R10": 100.0,
            "R50": 100.0,
            "MedR": 2.0,
            "MeanR": 1.65,
            "mAP10": 100 * 2 / 3,
            "geo": (30 * 100 * 100) ** (1 / 3),
        }
    )


def test_a_tie_straddling_k_is_not_a_hit():
    # 12 captions, caption i describes clip i, every caption scores the clips alike. Clips 0 and
    # 1 tie for positions 5 and 6, so both rank 5.5: no hit at R@5 (the paper's code counts
    # them), hits at R@10. Ranks by clip: 5.5 5.5 1 2 3 4 7 8 9 10 11 12.
    row = [0.5, 0.5, 0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1, 0.05, 0.0]
    out = retrieval_metrics(np.tile(row, (12, 1)), np.arange(12))["t2a"]
    assert out == approx(
        {
            "R1": 100 / 12,  # rank 1
            "R5": 100 * 4 / 12,  # ranks 1 2 3 4
            "R10": 100 * 10 / 12,  # all but 11 and 12
            "R50": 100.0,
            "MedR": (5.5 + 7) / 2,  # sorted: 1 2 3 4 5.5 [5.5 7] 8 9 10 11 12
            "MeanR": 78 / 12,  # 5.5 + 5.5 + (1+2+3+4) + (7+8+9+10+11+12) = 11 + 10 + 57
            "mAP10": 100
            * (2 / 5.5 + 1 + 1 / 2 + 1 / 3 + 1 / 4 + 1 / 7 + 1 / 8 + 1 / 9 + 1 / 10)
            / 12,
            "geo": (100 / 12 * 100 * 4 / 12 * 100 * 10 / 12) ** (1 / 3),
        }
    )


def test_relevant_captions_tied_with_each_other_share_their_positions():
    # Clip 0 has captions 0 and 1, both at 0.9 in its column: they share positions 1-2 -> 1.5
    # each, so the a2t rank is 1.5 (not a hit at R@1), AP = (1/1.5 + 2/1.5)/2 = 1.
    # Clip 1's column [0.2, 0.1, 0.3]: its caption 2 is first -> rank 1, AP 1.
    sims = np.array([[0.9, 0.2], [0.9, 0.1], [0.1, 0.3]])
    out = retrieval_metrics(sims, np.array([0, 0, 1]))["a2t"]
    assert out["R1"] == pytest.approx(50.0)
    assert out["MeanR"] == pytest.approx((1.5 + 1) / 2)
    assert out["mAP10"] == pytest.approx(100.0)


def test_relevant_items_beyond_ten_do_not_count_towards_map():
    # 12 captions: 0 and 1 describe clip 0, 2-11 describe clip 1.
    # Clip 0's column, descending: 1.0 (c2), 0.95 (c3), 0.9 (c0) -> c0 rank 3; c1 (0.0) last,
    # rank 12 > 10 so it adds nothing: AP = (1/3 + 0) / 2 = 1/6.
    # Clip 1's column is all zero: 12 tied items, each rank (1+...+12)/12 = 6.5; its 10
    # captions add (1+2+...+10)/6.5 = 55/6.5, AP = 5.5/6.5 = 11/13.
    column0 = np.array([0.9, 0.0, 1.0, 0.95, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    sims = np.stack([column0, np.zeros(12)], axis=1)
    caption_clip = np.array([0, 0] + [1] * 10)
    out = retrieval_metrics(sims, caption_clip)["a2t"]
    assert out["mAP10"] == pytest.approx(100 * (1 / 6 + 11 / 13) / 2)
    assert out["MeanR"] == pytest.approx((3 + 6.5) / 2)


def test_all_tied_scores_give_chance_ranks():
    # 4 captions x 4 clips, every similarity equal: each t2a rank is (1+2+3+4)/4 = 2.5.
    out = retrieval_metrics(np.zeros((4, 4)), np.arange(4))
    for direction in ("t2a", "a2t"):
        assert out[direction]["R1"] == 0.0 and out[direction]["R5"] == 100.0
        assert out[direction]["MedR"] == out[direction]["MeanR"] == 2.5
        assert out[direction]["mAP10"] == pytest.approx(100 / 2.5)


def test_geometric_mean():
    assert geometric_mean([2, 8]) == pytest.approx(4.0)  # sqrt(16)
    assert geometric_mean([1, 10, 100]) == pytest.approx(10.0)  # cube root of 1000
    assert geometric_mean([0, 50, 100]) == 0.0
    assert geometric_mean([100.0, 100.0, 100.0]) == 100.0  # exp(mean(log)) rounds above it


@given(st.lists(st.floats(min_value=1e-3, max_value=100.0), min_size=1, max_size=6))
def test_geometric_mean_stays_within_its_values(values):
    assert min(values) <= geometric_mean(values) <= max(values)
    with pytest.raises(ValueError):
        geometric_mean([])
    with pytest.raises(ValueError):
        geometric_mean([-1, 2])


def _reference(sims: np.ndarray, caption_clip: np.ndarray) -> dict[str, dict[str, float]]:
    """Slow, obvious version of the definitions: explicit positions, loops over queries."""

    def averaged_positions(row: np.ndarray) -> list[float]:
        order = sorted(range(len(row)), key=lambda j: -row[j])
        rank = [0.0] * len(row)
        start = 0
        while start < len(order):
            end = start
            while end + 1 < len(order) and row[order[end + 1]] == row[order[start]]:
                end += 1
            shared = [p + 1 for p in range(start, end + 1)]
            for p in range(start, end + 1):
                rank[order[p]] = sum(shared) / len(shared)
            start = end + 1
        return rank

    def ap(relevant_ranks: list[float]) -> float:
        ranks = sorted(relevant_ranks)
        return sum(i / r for i, r in enumerate(ranks, 1) if r <= 10) / len(ranks)

    def summary(ranks: list[float], aps: list[float]) -> dict[str, float]:
        n = len(ranks)
        out = {f"R{k}": 100 * sum(r <= k for r in ranks) / n for k in (1, 5, 10, 50)}
        s = sorted(ranks)
        out["MedR"] = s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
        out["MeanR"] = sum(ranks) / n
        out["mAP10"] = 100 * sum(aps) / len(aps)
        out["geo"] = (out["R1"] * out["R5"] * out["R10"]) ** (1 / 3)
        return out

    t2a = [averaged_positions(sims[i])[caption_clip[i]] for i in range(len(sims))]
    a2t, a2t_aps = [], []
    for clip in range(sims.shape[1]):
        positions = averaged_positions(sims[:, clip])
        mine = [positions[i] for i in range(len(sims)) if caption_clip[i] == clip]
        a2t.append(min(mine))
        a2t_aps.append(ap(mine))
    return {
        "t2a": summary(t2a, [ap([r]) for r in t2a]),
        "a2t": summary(a2t, a2t_aps),
    }


@pytest.mark.parametrize("levels", [None, 4, 12])
@pytest.mark.parametrize("per_clip", [1, 5])
def test_matches_slow_reference_on_random_matrices(levels, per_clip):
    # levels quantises the similarities so that ties are frequent; None keeps them distinct.
    rng = np.random.default_rng(17 + per_clip)
    n_clips = 70
    caption_clip = rng.permutation(np.repeat(np.arange(n_clips), per_clip))
    sims = rng.uniform(-1, 1, (len(caption_clip), n_clips))
    if levels:
        sims = np.round(sims * levels) / levels
    expected = _reference(sims, caption_clip)
    assert_close(retrieval_metrics(sims, caption_clip), expected)


def test_matches_the_papers_formulas_without_ties():
    # The paper's code (0-based column c of the GT in the sorted row): R@k counts c < k,
    # MedR = median(c) + 1, MeanR = mean(c) + 1; a2t takes the best of a clip's captions.
    # Written here from those formulas, for distinct similarities and 5 captions per clip
    # laid out as the paper's (captions 5j..5j+4 describe clip j).
    rng = np.random.default_rng(3)
    n_clips, per_clip = 60, 5
    sims = rng.normal(size=(n_clips * per_clip, n_clips))
    caption_clip = np.repeat(np.arange(n_clips), per_clip)
    t2a_cols = np.array(
        [np.sum(sims[i] > sims[i, caption_clip[i]]) for i in range(len(sims))], dtype=float
    )
    a2t_cols = np.array(
        [
            min(np.sum(sims[:, j] > sims[i, j]) for i in range(j * per_clip, (j + 1) * per_clip))
            for j in range(n_clips)
        ],
        dtype=float,
    )
    got = retrieval_metrics(sims, caption_clip)
    for direction, cols in (("t2a", t2a_cols), ("a2t", a2t_cols)):
        for k in (1, 5, 10, 50):
            assert got[direction][f"R{k}"] == pytest.approx(100 * np.mean(cols < k))
        assert got[direction]["MedR"] == pytest.approx(np.median(cols) + 1)
        assert got[direction]["MeanR"] == pytest.approx(np.mean(cols) + 1)


def _random_case(draw_seed: int, n_clips: int, per_clip: int, levels: int):
    rng = np.random.default_rng(draw_seed)
    caption_clip = rng.permutation(np.repeat(np.arange(n_clips), per_clip))
    sims = np.round(rng.uniform(-1, 1, (len(caption_clip), n_clips)) * levels) / levels
    return rng, sims, caption_clip


cases = st.tuples(
    st.integers(0, 2**32 - 1), st.integers(1, 30), st.integers(1, 5), st.integers(1, 20)
)


@settings(max_examples=60, deadline=None)
@given(cases)
def test_permuting_clips_and_captions_changes_nothing(case):
    rng, sims, caption_clip = _random_case(*case)
    clip_perm = rng.permutation(sims.shape[1])  # new clip k is old clip clip_perm[k]
    caption_perm = rng.permutation(sims.shape[0])
    new_index = np.argsort(clip_perm)  # old clip j -> new index
    permuted = sims[caption_perm][:, clip_perm]
    permuted_clip = new_index[caption_clip[caption_perm]]
    expected = retrieval_metrics(sims, caption_clip)
    assert_close(retrieval_metrics(permuted, permuted_clip), expected, rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(cases)
def test_only_the_order_of_similarities_matters(case):
    _, sims, caption_clip = _random_case(*case)
    expected = retrieval_metrics(sims, caption_clip)
    # exp(3x) is strictly increasing: same order, same ties
    assert_close(retrieval_metrics(np.exp(3 * sims), caption_clip), expected)
    as_float32 = torch.tensor(sims, dtype=torch.float32)  # 1/levels steps stay distinct
    assert_close(retrieval_metrics(as_float32, torch.tensor(caption_clip)), expected)


@settings(max_examples=60, deadline=None)
@given(cases)
def test_bounds_and_monotone_recalls(case):
    _, sims, caption_clip = _random_case(*case)
    n_captions, n_clips = sims.shape
    out = retrieval_metrics(sims, caption_clip)
    for direction, n_items in (("t2a", n_clips), ("a2t", n_captions)):
        m = out[direction]
        assert 0 <= m["R1"] <= m["R5"] <= m["R10"] <= m["R50"] <= 100
        assert 1 <= m["MedR"] <= n_items and 1 <= m["MeanR"] <= n_items
        assert 0 <= m["mAP10"] <= 100 + 1e-9
        assert 0 <= m["geo"] <= 100 + 1e-9
        if m["R1"] == 100:
            assert m["MedR"] == m["MeanR"] == 1


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 40), st.integers(1, 5))
def test_perfect_similarities_score_perfectly(seed, n_clips, per_clip):
    rng = np.random.default_rng(seed)
    caption_clip = rng.permutation(np.repeat(np.arange(n_clips), per_clip))
    sims = rng.uniform(-1, 0, (len(caption_clip), n_clips))
    # every caption's own clip scores above every other pair, and no two relevant pairs tie
    sims[np.arange(len(caption_clip)), caption_clip] = 1 + rng.permutation(len(caption_clip))
    out = retrieval_metrics(sims, caption_clip)
    for direction in ("t2a", "a2t"):
        assert out[direction]["R1"] == 100.0
        assert out[direction]["MedR"] == out[direction]["MeanR"] == 1.0
        assert out[direction]["mAP10"] == pytest.approx(100.0)
        assert out[direction]["geo"] == pytest.approx(100.0)


def test_chunked_ranking_equals_one_block(monkeypatch):
    _, sims, caption_clip = _random_case(5, 40, 5, 6)
    expected = all_metrics(sims, caption_clip)
    monkeypatch.setattr("atr_bench.run.metrics._CHUNK_ELEMENTS", 7 * sims.shape[0])
    assert all_metrics(sims, caption_clip) == expected


def test_five_thousand_by_one_thousand_random_scores_rank_uniformly():
    generator = torch.Generator().manual_seed(0)
    sims = torch.rand(5000, 1000, generator=generator)
    caption_clip = torch.arange(1000).repeat_interleave(5)
    out = retrieval_metrics(sims, caption_clip)
    # random scores: the relevant clip's rank is uniform over 1..1000, mean about 500
    assert out["t2a"]["MeanR"] == pytest.approx(500.5, rel=0.05)
    assert all(math.isfinite(v) for d in out.values() for v in d.values())


@pytest.mark.parametrize(
    ("sims", "caption_clip", "message"),
    [
        (np.zeros(3), np.arange(3), "2-D"),
        (np.zeros((0, 3)), np.arange(0), "2-D"),
        (np.zeros((3, 3)), np.arange(2), "one entry per caption"),
        (np.zeros((3, 3)), np.array([0.0, 1.0, 2.0]), "integer clip indices"),
        (np.zeros((3, 3)), np.array([0, 1, 3]), "outside 0..2"),
        (np.zeros((3, 3)), np.array([0, 1, 1]), "clip index 2"),
        (np.array([[np.nan, 0], [0, 1]]), np.arange(2), "NaN or inf"),
    ],
)
def test_bad_inputs_raise_clear_errors(sims, caption_clip, message):
    with pytest.raises(AtrBenchError, match=message):
        retrieval_metrics(sims, caption_clip)
