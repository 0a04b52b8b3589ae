"""Board rows for tests without training: a seed's record and per-query ranks written as
``run_seed`` writes them, from a similarity matrix the test draws."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from atr_bench.record.ranks import QueryRanks, ranks_path, write_ranks
from atr_bench.record.results import record_path, write_record
from atr_bench.record.run_record import ProtocolRef, RunRecord
from atr_bench.run.metrics import metrics_from_ranks


def similarities(
    caption_clip: np.ndarray, skill: float, seed: int, decimals: int | None = None
) -> np.ndarray:
    """Noise, plus ``skill`` on each caption's own clip; rounded to ``decimals`` (ties)."""
    rng = np.random.default_rng(seed)
    sims = rng.normal(size=(len(caption_clip), int(caption_clip.max()) + 1))
    if decimals is not None:
        sims = sims.round(decimals)
    sims[np.arange(len(caption_clip)), caption_clip] += skill
    return sims


def write_seed(
    runs: Path,
    run_id: str,
    ranks: QueryRanks,
    *,
    dataset: str,
    pooling: str,
    seed: int,
    test: dict[str, dict[str, float]] | None = None,
    **fields: Any,
) -> RunRecord:
    """One seed of a ``lou2022`` row of ``lms`` features: its record and its ranks file."""
    record = RunRecord(
        run_id=run_id,
        created=f"2026-01-01T00:00:0{seed}+00:00",
        dataset=dataset,
        extractor="lms",
        pooling=pooling,
        seed=seed,
        protocol=ProtocolRef("lou2022", 1),
        device="cpu (x86_64, 1 threads)",
        test=metrics_from_ranks(ranks) if test is None else test,
        ranks=write_ranks(ranks_path(runs, run_id), ranks).name,
        **{"protocol_hash": f"{pooling}hash".ljust(12, "0"), **fields},
    )
    write_record(record_path(runs, run_id), record)
    return record
