"""Contrastive losses over a batch similarity matrix, in both retrieval directions.

``sims[i, j]`` is the similarity of caption ``i`` and clip ``j`` of a batch whose pair ``(i, i)``
matches. ``positives[i, j]`` is True where caption ``i`` describes clip ``j`` (the diagonal, and
wherever two batch items share a clip): such pairs are never used as negatives.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def max_margin_loss(
    sims: torch.Tensor, positives: torch.Tensor, margin: float = 0.2
) -> torch.Tensor:
    """Bidirectional max-margin ranking loss (Collaborative Experts style).

    For each matching pair ``(i, i)`` and each negative ``j``: ``max(0, margin - s_ii + s_ij)``
    (caption i against other clips) and ``max(0, margin - s_ii + s_ji)`` (clip i against other
    captions); the mean over all those terms. Zero (with a graph) when there is no negative.
    """
    negatives, _ = _masks(sims, positives)
    diagonal = sims.diagonal()
    t2a = (margin - diagonal[:, None] + sims).clamp(min=0)  # row i: s_ij
    a2t = (margin - diagonal[:, None] + sims.T).clamp(min=0)  # row i: s_ji
    total = (t2a * negatives).sum() + (a2t * negatives.T).sum()
    return total / (2 * negatives.sum()).clamp(min=1)


def info_nce_loss(
    sims: torch.Tensor, positives: torch.Tensor, temperature: float = 0.05
) -> torch.Tensor:
    """Symmetric InfoNCE: cross-entropy over rows and over columns, the diagonal as target.

    The other positives of a row (column) are left out of its softmax denominator, so a caption
    is not pushed away from another caption's clip that it also describes.
    """
    _, other_positives = _masks(sims, positives)
    logits = (sims / temperature).masked_fill(other_positives, -torch.inf)
    target = logits.diagonal()
    t2a = torch.logsumexp(logits, dim=1) - target
    a2t = torch.logsumexp(logits, dim=0) - target
    return (t2a.mean() + a2t.mean()) / 2


def _masks(sims: torch.Tensor, positives: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Check the shapes; return (negatives, off-diagonal positives) as bool masks.

    The matching pairs on the diagonal count as positives whatever ``positives`` says there.
    """
    if sims.ndim != 2 or sims.shape[0] != sims.shape[1]:
        raise ValueError(f"sims must be a square [B, B] matrix, got {tuple(sims.shape)}")
    if positives.shape != sims.shape:
        raise ValueError(
            f"positives shape {tuple(positives.shape)} differs from sims {tuple(sims.shape)}"
        )
    eye = torch.eye(sims.shape[0], dtype=torch.bool, device=sims.device)
    positives = positives.to(device=sims.device, dtype=torch.bool)
    return ~(positives | eye), positives & ~eye


def max_margin() -> Callable[..., torch.Tensor]:
    """The ``max_margin`` loss (``contract.Loss``; registered by ``components.training_parts``)."""
    return max_margin_loss


def infonce() -> Callable[..., torch.Tensor]:
    """The ``infonce`` loss (``contract.Loss``; registered by ``components.training_parts``)."""
    return info_nce_loss
