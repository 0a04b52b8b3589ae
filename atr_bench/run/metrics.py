"""Retrieval metrics for both directions, with ties averaged so a tie never favours the model.

Definitions (DESIGN.md, "Metrics"): ``sims[i, j]`` is the similarity of caption ``i`` and clip
``j``. t2a: every caption is a query whose one relevant item is its clip. a2t: every clip is a
query whose relevant items are all its captions; its rank is that of its best-ranked caption.
An item tied with others takes the mean of the 1-based positions they share; R@k counts a query
whose rank is <= k. mAP@10 (DCASE 2022 task 6b): per query, the relevant items sorted by rank,
the i-th contributes i / rank_i when rank_i <= 10, summed and divided by the number of relevant
items. Without ties every figure equals the paper's released code.

Beside these, ``metrics_from_ranks`` gives the definitions of other papers and tools
(``definition_scores``): records keep both, each labelled with its definition.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import torch

from atr_bench.errors import AtrBenchError
from atr_bench.record.metric_names import METRIC_KEYS
from atr_bench.record.ranks import QueryRanks
from atr_bench.run.definition_scores import definition_scores

RECALL_AT = (1, 5, 10, 50)
MAP_CUTOFF = 10
_CHUNK_ELEMENTS = 1 << 20
"""Entries of one comparison block: 4 MB of float32 scores, 8 MB of float64. Blocks of 1 << 24
(67 MB of float32) were fresh pages each, and ranking Clotho's 5,225 x 1,045 validation matrix
took 1.7x as long (106-125 against 62-70 ms)."""


def geometric_mean(values: Iterable[float]) -> float:
    """Geometric mean of non-negative numbers; 0 when any of them is 0 (as scipy's gmean).
    Kept between the smallest and largest value, which rounding in ``exp(mean(log))`` can
    overstep (three recalls of 100 gave 100.00000000000004, which no percentage may be)."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("geometric_mean of no values")
    if any(v < 0 for v in values):
        raise ValueError(f"geometric_mean needs non-negative values, got {values}")
    if any(v == 0 for v in values):
        return 0.0
    mean = math.exp(math.fsum(math.log(v) for v in values) / len(values))
    return min(max(mean, min(values)), max(values))


def retrieval_metrics(
    sims: torch.Tensor | np.ndarray, caption_clip: torch.Tensor | np.ndarray
) -> dict[str, dict[str, float]]:
    """t2a and a2t metrics of a ``[n_captions, n_clips]`` similarity matrix.

    ``caption_clip[i]`` is the index of the clip caption ``i`` describes. Returns
    ``{"t2a": {...}, "a2t": {...}}`` keyed by ``METRIC_KEYS`` then ``DEFINITION_KEYS`` (ranks
    1-based, every other metric in percent).
    """
    return metrics_from_ranks(query_ranks(sims, caption_clip))


def query_ranks(
    sims: torch.Tensor | np.ndarray, caption_clip: torch.Tensor | np.ndarray
) -> QueryRanks:
    """Every test query's rank(s) and tie counts, from which ``metrics_from_ranks`` gives
    every metric."""
    sims, caption_clip = _checked(sims, caption_clip)
    captions = torch.arange(sims.shape[0], device=sims.device)
    # t2a: caption i's query row is sims[i]; its relevant clip is caption_clip[i].
    t2a_ranks, t2a_tied = _tie_averaged_ranks(sims, None, caption_clip)
    # a2t: clip c's query row is sims[:, c]; rank every caption within its own clip's row.
    caption_ranks, caption_tied = _tie_averaged_ranks(sims.T.contiguous(), caption_clip, captions)
    return QueryRanks(
        t2a_ranks.numpy(),
        caption_ranks.numpy(),
        caption_clip.cpu().numpy(),
        t2a_tied=t2a_tied.numpy(),
        caption_tied=caption_tied.numpy(),
    )


def query_scores(ranks: QueryRanks) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per direction, each query's rank and its average precision at 10 (0..1): every metric
    but MedR and geo is the mean of a function of these over the queries."""
    t2a = torch.as_tensor(ranks.t2a)
    caption = torch.as_tensor(ranks.caption)
    clip_of = torch.as_tensor(ranks.caption_clip)
    n_captions, n_clips = t2a.numel(), ranks.n_clips
    return {
        "t2a": (ranks.t2a, _ap(t2a, torch.arange(n_captions), n_captions).numpy()),
        "a2t": (ranks.a2t, _ap(caption, clip_of, n_clips).numpy()),
    }


def metrics_from_ranks(ranks: QueryRanks) -> dict[str, dict[str, float]]:
    """Both directions' metrics of the per-query ranks (what a run records): atr-bench's own,
    then every other definition the ranks can give (``definition_scores``)."""
    others = definition_scores(ranks)
    return {
        direction: {
            **_summary(torch.as_tensor(rank), 100 * float(torch.as_tensor(ap).mean())),
            **{key: 100 * float(np.mean(score)) for key, score in others[direction].items()},
        }
        for direction, (rank, ap) in query_scores(ranks).items()
    }


def _checked(
    sims: torch.Tensor | np.ndarray, caption_clip: torch.Tensor | np.ndarray
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate the inputs; return them as tensors on one device (sims at least float32)."""
    sims = torch.as_tensor(sims).detach()
    if sims.ndim != 2 or 0 in sims.shape:
        raise AtrBenchError(
            f"similarity matrix must be 2-D [n_captions, n_clips], got shape {tuple(sims.shape)}"
        )
    if not sims.is_floating_point():
        sims = sims.double()
    elif torch.finfo(sims.dtype).bits < 32:
        sims = sims.float()  # exact: widening keeps every tie and every order
    if not bool(torch.isfinite(sims).all()):
        raise AtrBenchError(
            "similarity matrix has NaN or inf entries (the model diverged?); "
            "lower the learning rate or disable mixed precision"
        )
    caption_clip = torch.as_tensor(caption_clip, device=sims.device)
    n_captions, n_clips = sims.shape
    if caption_clip.shape != (n_captions,):
        raise AtrBenchError(
            f"caption_clip must have one entry per caption ({n_captions}), "
            f"got shape {tuple(caption_clip.shape)}"
        )
    if caption_clip.is_floating_point() or caption_clip.dtype == torch.bool:
        raise AtrBenchError(
            f"caption_clip must hold integer clip indices, got {caption_clip.dtype}"
        )
    caption_clip = caption_clip.long()
    if int(caption_clip.min()) < 0 or int(caption_clip.max()) >= n_clips:
        raise AtrBenchError(f"caption_clip has clip indices outside 0..{n_clips - 1}")
    without = (torch.bincount(caption_clip, minlength=n_clips) == 0).nonzero().flatten()
    if without.numel():
        raise AtrBenchError(
            f"{without.numel()} clip(s) have no caption (first: clip index {int(without[0])}); "
            "every clip needs at least one caption for a2t"
        )
    return sims, caption_clip


def _tie_averaged_ranks(
    scores: torch.Tensor, rows: torch.Tensor | None, cols: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """1-based rank of ``scores[rows[q], cols[q]]`` within row ``scores[rows[q]]``, descending,
    and how many items of that row share its score (itself included); ``rows`` None: query
    ``q``'s row is row ``q`` (read in place, not gathered).

    Ties take the mean of the positions they share: ``greater + (equal + 1) / 2`` where
    ``equal`` counts the item itself. Computed in blocks of queries to bound memory.
    """
    width = scores.shape[1]
    chunk = max(1, _CHUNK_ELEMENTS // width)
    greater, equal = [], []
    for start in range(0, cols.numel(), chunk):
        pool = (
            scores[start : start + chunk] if rows is None else scores[rows[start : start + chunk]]
        )
        value = pool.gather(1, cols[start : start + chunk, None])
        greater.append((pool > value).sum(1))
        equal.append((pool == value).sum(1))
    tied = torch.cat(equal).cpu()
    return torch.cat(greater).cpu().double() + (tied.double() + 1) / 2, tied.long()


def _ap(ranks: torch.Tensor, query: torch.Tensor, n_queries: int) -> torch.Tensor:
    """Average precision at 10 per query (0..1): ``ranks[r]`` is the rank of relevant item r
    within query ``query[r]``.

    Sorting by (query, rank) gives every relevant item its 1-based order i within its query;
    it contributes i / rank when rank <= 10, and each query's sum is divided by its |relevant|.
    """
    by_rank = torch.argsort(ranks, stable=True)
    order = by_rank[torch.argsort(query[by_rank], stable=True)]
    ranks, query = ranks[order], query[order]
    counts = torch.bincount(query, minlength=n_queries)
    first = torch.cumsum(counts, 0) - counts
    position = torch.arange(ranks.numel(), dtype=torch.float64) - first[query] + 1
    gain = torch.where(ranks <= MAP_CUTOFF, position / ranks, torch.zeros_like(ranks))
    return torch.zeros(n_queries, dtype=torch.float64).index_add_(0, query, gain) / counts


def _summary(ranks: torch.Tensor, map10: float) -> dict[str, float]:
    """Recalls (percent), median and mean rank, mAP@10 and the geometric mean of R1/R5/R10."""
    out = {f"R{k}": 100 * float((ranks <= k).double().mean()) for k in RECALL_AT}
    ordered = torch.sort(ranks).values
    n = ordered.numel()
    out["MedR"] = float(ordered[(n - 1) // 2] + ordered[n // 2]) / 2
    out["MeanR"] = float(ranks.mean())
    out["mAP10"] = map10
    out["geo"] = geometric_mean(out[k] for k in ("R1", "R5", "R10"))
    return {key: out[key] for key in METRIC_KEYS}
