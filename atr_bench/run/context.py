"""Where and how runs execute, given once instead of to every function that runs them."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch


@dataclass(frozen=True)
class RunContext:
    """The device, the folders, progress bars, CPU threads, how audio features are read and the
    logger of a run or a sweep. None of it is part of the protocol, so none of it is hashed; a
    context crosses to sweep worker processes as it is (all of it pickles)."""

    device: torch.device
    runs_dir: Path
    """Where run records and checkpoints are written."""
    data_root: Path
    """Where datasets, their features and text caches are."""
    progress: bool = True
    """Progress bars (and the messages that go with them, such as resuming)."""
    threads: int | None = None
    """CPU threads per run; None: torch's current setting."""
    stream: str = "auto"
    """Whether audio features are read from disk a batch at a time (``STREAM_MODES``)."""
    log_to: str = "tensorboard"
    """Where each run's training curves go (``curves_log.LOG_TO``)."""
    allow_overlap: bool = False
    """Run even when the test split shares clips with the train split (the record says so)."""
    allow_unsound: bool = False
    """Train poolings that fail the soundness checks (``run.soundness``), marking their
    records, instead of stopping."""
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("atr_bench.run"))
    """Where the run's messages go; a caller running many may give each its own."""
