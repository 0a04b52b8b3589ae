"""The other papers' and tools' metric definitions (ties=hits R@k, the released code's R@k,
MTEB's nDCG@10 and MRR@10) against independent implementations on random similarity
matrices with ties: a plain per-query oracle that enumerates every order of the tied items,
scikit-learn's ``ndcg_score``, and the released code's positions written from its rule."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import ndcg_score

from atr_bench.record.metric_names import DEFINITION_KEYS, METRIC_KEYS
from atr_bench.record.ranks import QueryRanks, read_ranks, write_ranks
from atr_bench.run.metrics import metrics_from_ranks, query_ranks, retrieval_metrics

HITS_AT, RELEASED_AT = (1, 5, 10, 50), (5, 10, 50)


def _queries(sims: np.ndarray, caption_clip: np.ndarray, direction: str):
    """(scores, relevant item indices) of every query of one direction."""
    if direction == "t2a":
        return [(sims[i], [caption_clip[i]]) for i in range(len(sims))]
    return [(sims[:, c], list(np.flatnonzero(caption_clip == c))) for c in range(sims.shape[1])]


def _relevant_positions(scores: np.ndarray, relevant: list[int]):
    """Every equally likely set of positions of the relevant items, over the orders of tied
    items: within a block of tied positions, its relevant items hold each subset of the
    block's positions of their number equally often."""
    choices, start = [], 0
    for value in sorted(set(scores.tolist()), reverse=True):
        block = [j for j in range(len(scores)) if scores[j] == value]
        mine = sum(j in relevant for j in block)
        positions = range(start + 1, start + len(block) + 1)
        choices.append(list(itertools.combinations(positions, mine)))
        start += len(block)
    for parts in itertools.product(*choices):
        yield sorted(p for part in parts for p in part)


def _oracle_query(scores: np.ndarray, relevant: list[int]) -> dict[str, float]:
    """One query's scores, straight from the definitions: nDCG@10 and MRR@10 averaged over
    every order of the tied items; ties=hits counts the query at k when some order puts a
    relevant item within k; the released code takes each relevant item's 0-based positions
    where the sorted scores equal its score, averages them, and counts the best below k."""
    ndcg, rr, best_first = [], [], math.inf
    ideal = sum(1 / math.log2(p + 1) for p in range(1, min(len(relevant), 10) + 1))
    for mine in _relevant_positions(scores, relevant):
        ndcg.append(sum(1 / math.log2(p + 1) for p in mine if p <= 10) / ideal)
        rr.append(1 / mine[0] if mine[0] <= 10 else 0.0)
        best_first = min(best_first, mine[0])
    descending = sorted(scores.tolist(), reverse=True)
    averaged = min(
        np.mean([p for p, v in enumerate(descending) if v == scores[r]]) for r in relevant
    )
    out = {"nDCG10": float(np.mean(ndcg)), "MRR10": float(np.mean(rr))}
    out |= {f"R{k}_hits": float(best_first <= k) for k in HITS_AT}
    out |= {f"R{k}_released": float(averaged < k) for k in RELEASED_AT}
    return out


def _oracle(sims: np.ndarray, caption_clip: np.ndarray) -> dict[str, dict[str, float]]:
    out = {}
    for direction in ("t2a", "a2t"):
        per_query = [_oracle_query(s, r) for s, r in _queries(sims, caption_clip, direction)]
        out[direction] = {k: 100 * float(np.mean([q[k] for q in per_query])) for k in per_query[0]}
    return out


def _case(seed: int, n_clips: int, per_clip: int, levels: int):
    rng = np.random.default_rng(seed)
    caption_clip = rng.permutation(np.repeat(np.arange(n_clips), per_clip))
    sims = np.round(rng.uniform(-1, 1, (len(caption_clip), n_clips)) * levels) / levels
    return sims, caption_clip


def _assert_matches(got: dict, expected: dict) -> None:
    for direction in expected:
        for key, value in expected[direction].items():
            assert got[direction][key] == pytest.approx(value, rel=1e-9, abs=1e-9), (
                direction,
                key,
            )


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 12), st.integers(1, 3), st.integers(0, 4))
def test_every_definition_equals_the_enumerating_oracle(seed, n_clips, per_clip, levels):
    # levels 0 makes every similarity equal: one tie over each whole query
    sims, caption_clip = _case(seed, n_clips, per_clip, max(levels, 1))
    if levels == 0:
        sims = np.zeros_like(sims)
    _assert_matches(retrieval_metrics(sims, caption_clip), _oracle(sims, caption_clip))


@pytest.mark.parametrize("levels", [1, 2, 4, 8])
def test_queries_longer_than_the_cutoff_equal_the_oracle(levels):
    # 30 clips of 1-3 captions: blocks of tied items cross position 10 in both directions
    rng = np.random.default_rng(levels)
    caption_clip = rng.permutation(np.repeat(np.arange(30), rng.integers(1, 4, 30)))
    sims = np.round(rng.uniform(-1, 1, (len(caption_clip), 30)) * levels) / levels
    _assert_matches(retrieval_metrics(sims, caption_clip), _oracle(sims, caption_clip))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 60), st.integers(1, 5), st.integers(1, 8))
def test_ndcg_equals_scikit_learns_tie_averaged_ndcg(seed, n_clips, per_clip, levels):
    sims, caption_clip = _case(seed, n_clips, per_clip, levels)
    got = retrieval_metrics(sims, caption_clip)
    t2a_relevance = np.eye(n_clips)[caption_clip]
    a2t_relevance = np.stack([caption_clip == c for c in range(n_clips)]).astype(float)
    assert got["t2a"]["nDCG10"] == pytest.approx(100 * ndcg_score(t2a_relevance, sims, k=10))
    assert got["a2t"]["nDCG10"] == pytest.approx(100 * ndcg_score(a2t_relevance, sims.T, k=10))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 40), st.integers(1, 5), st.integers(1, 20))
def test_the_definitions_order_as_their_tie_rules_say(seed, n_clips, per_clip, levels):
    # ties=hits counts every query the released code counts, which counts every query
    # atr-bench's tie-averaged R@k counts; nDCG@10 and MRR@10 lie in 0..100
    sims, caption_clip = _case(seed, n_clips, per_clip, levels)
    out = retrieval_metrics(sims, caption_clip)
    for m in out.values():
        for k in (5, 10, 50):
            assert m[f"R{k}"] <= m[f"R{k}_released"] <= m[f"R{k}_hits"]
        assert m["R1"] <= m["R1_hits"]
        assert 0 <= m["MRR10"] <= 100 + 1e-9 and 0 <= m["nDCG10"] <= 100 + 1e-9


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 40), st.integers(1, 5))
def test_without_ties_every_definition_agrees(seed, n_clips, per_clip):
    rng = np.random.default_rng(seed)
    caption_clip = rng.permutation(np.repeat(np.arange(n_clips), per_clip))
    sims = rng.permutation(len(caption_clip) * n_clips).reshape(len(caption_clip), n_clips)
    out = retrieval_metrics(sims.astype(float), caption_clip)
    for m in out.values():
        for k in (5, 10, 50):
            assert m[f"R{k}"] == m[f"R{k}_released"] == m[f"R{k}_hits"]
        assert m["R1"] == m["R1_hits"]
    # one relevant clip: the DCASE AP@10 of a caption is 1 / rank within 10, its RR@10
    assert out["t2a"]["MRR10"] == pytest.approx(out["t2a"]["mAP10"])


def test_a_model_that_scores_everything_alike():
    # 4 clips x 2 captions, every score equal: ties=hits counts every query at R@1; nDCG@10
    # and MRR@10 are what a random order gives (one of 4 clips: RR (1 + 1/2 + 1/3 + 1/4) / 4)
    caption_clip = np.repeat(np.arange(4), 2)
    out = retrieval_metrics(np.zeros((8, 4)), caption_clip)
    assert out["t2a"]["R1_hits"] == out["a2t"]["R1_hits"] == 100.0
    assert out["t2a"]["R1"] == out["a2t"]["R1"] == 0.0
    assert out["t2a"]["MRR10"] == pytest.approx(100 * (1 + 1 / 2 + 1 / 3 + 1 / 4) / 4)
    # a2t: 2 relevant of 8 captions; the first relevant at j with P = C(8 - j, 1) / C(8, 2)
    first = [(8 - j) / 28 for j in range(1, 8)]
    assert out["a2t"]["MRR10"] == pytest.approx(100 * sum(p / j for j, p in enumerate(first, 1)))


def test_a_tie_straddling_k_counts_for_the_released_code_and_for_ties_hits():
    # the tie of test_metrics.test_a_tie_straddling_k_is_not_a_hit: clips 0 and 1 share
    # positions 5 and 6 (rank 5.5), so they miss atr-bench's R@5 and hit the other two
    row = [0.5, 0.5, 0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1, 0.05, 0.0]
    out = retrieval_metrics(np.tile(row, (12, 1)), np.arange(12))["t2a"]
    assert out["R5"] == pytest.approx(100 * 4 / 12)
    assert out["R5_released"] == out["R5_hits"] == pytest.approx(100 * 6 / 12)
    # a three-way tie at 5, 6, 7 averages to 6: the released code no longer counts it at 5
    row3 = [0.5, 0.5, 0.5, 0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1, 0.0]
    out3 = retrieval_metrics(np.tile(row3, (12, 1)), np.arange(12))["t2a"]
    assert out3["R5_released"] == pytest.approx(100 * 4 / 12)
    assert out3["R5_hits"] == pytest.approx(100 * 7 / 12)


def test_records_hold_every_key_in_order():
    sims, caption_clip = _case(3, 6, 2, 3)
    out = retrieval_metrics(sims, caption_clip)
    assert tuple(out["t2a"]) == tuple(out["a2t"]) == (*METRIC_KEYS, *DEFINITION_KEYS)


def test_ranks_without_tie_counts_give_only_what_they_can(tmp_path: Path):
    # a ranks file written before record schema 4: the same ranks, no tie counts. Its own
    # metrics and the released code's R@k (tie-averaged ranks) come back; no other metric is
    # made up.
    sims, caption_clip = _case(5, 20, 3, 4)
    ranks = query_ranks(sims, caption_clip)
    old = QueryRanks(ranks.t2a, ranks.caption, ranks.caption_clip)
    path = tmp_path / "old.ranks.npz"
    np.savez_compressed(path, t2a=old.t2a, caption=old.caption, caption_clip=old.caption_clip)
    again = read_ranks(path)
    assert not again.has_ties
    full, partial = metrics_from_ranks(ranks), metrics_from_ranks(again)
    for direction in full:
        expected = {k: v for k, v in full[direction].items() if "hits" not in k}
        expected = {k: v for k, v in expected.items() if k not in ("nDCG10", "MRR10")}
        assert partial[direction] == expected
    assert read_ranks(write_ranks(tmp_path / "new.ranks.npz", ranks)).has_ties


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"t2a_tied": None}, "tie counts of one direction only"),
        ({"caption_tied": "zero"}, "caption_tied does not fit"),
        ({"t2a_tied": "float"}, "t2a_tied does not fit"),
        ({"t2a_tied": "wide"}, "t2a_tied does not fit"),
    ],
)
def test_tie_counts_that_do_not_fit_their_ranks_are_refused(tmp_path: Path, change, says):
    sims, caption_clip = _case(7, 10, 2, 3)
    ranks = query_ranks(sims, caption_clip)
    arrays = {
        "t2a": ranks.t2a,
        "caption": ranks.caption,
        "caption_clip": ranks.caption_clip,
        "t2a_tied": ranks.t2a_tied,
        "caption_tied": ranks.caption_tied,
    }
    for name, how in change.items():
        if how is None:
            del arrays[name]
        elif how == "zero":
            arrays[name] = np.zeros_like(arrays[name])
        elif how == "float":
            arrays[name] = arrays[name].astype(float)
        else:  # one more tied item than the ranks allow: its block passes position 1 or n
            arrays[name] = arrays[name] + 1
    path = tmp_path / "bad.ranks.npz"
    np.savez_compressed(path, **arrays)
    with pytest.raises(Exception, match=says):
        read_ranks(path)
