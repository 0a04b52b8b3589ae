"""Evaluation speed: the metrics of a Clotho-sized test split (5 captions x 1000 clips), which
every validation epoch and every test computes."""

from __future__ import annotations

import torch

from atr_bench.run.metrics import retrieval_metrics


def test_metrics_5000_captions_by_1000_clips(benchmark) -> None:
    generator = torch.Generator().manual_seed(0)
    sims = torch.rand(5000, 1000, generator=generator)
    caption_clip = torch.arange(1000).repeat_interleave(5)
    out = benchmark(retrieval_metrics, sims, caption_clip)
    assert 0 < out["t2a"]["MeanR"] <= 1000
