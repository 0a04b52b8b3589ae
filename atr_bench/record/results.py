"""Run records: one JSON file per run under ``runs/``, written atomically, read back tolerantly."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tabulate import tabulate

from atr_bench.errors import AtrBenchError
from atr_bench.files.atomic import write_json
from atr_bench.files.names import MAX_RUN_ID, check_name, inside

SCHEMA_VERSION = 1
DIRECTIONS = ("t2a", "a2t")
TABLE_METRICS = ("R1", "R5", "R10", "R50", "MedR", "MeanR", "mAP10", "geo")


def execution(device: torch.device, threads: int | None = None) -> dict[str, Any]:
    """What besides the protocol changes a run's numbers: torch's version, and the CPU thread
    count (it changes how reductions are split, hence the floating-point results) or the
    GPU. ``threads`` defaults to torch's current setting."""
    out: dict[str, Any] = {"torch": torch.__version__, "device": device.type}
    if device.type == "cpu":
        out["threads"] = threads or torch.get_num_threads()
    else:
        out["gpu"] = torch.cuda.get_device_name(device)
    return out


def _describe(execution: dict[str, Any]) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(execution.items()))


def read_done(path: Path, expected: dict[str, Any]) -> dict[str, Any]:
    """The record at ``path`` of a run that is already done under ``expected`` execution; an
    error when it was recorded under another one (records without one are taken as done)."""
    record = read_record(path)
    recorded = record.get("execution")
    if isinstance(recorded, dict) and recorded != expected:
        raise AtrBenchError(
            f"{path}: recorded with {_describe(recorded)}, but this run would use "
            f"{_describe(expected)}, which can change its numbers; match them (e.g. --threads) "
            "to reuse the record, or pass --force to redo the run and replace it"
        )
    return record


def record_path(runs_dir: Path, run_id: str) -> Path:
    check_name(run_id, "run id", MAX_RUN_ID)
    return inside(Path(runs_dir), f"{run_id}.json")


def checkpoint_path(runs_dir: Path, run_id: str, kind: str = "") -> Path:
    """``runs/checkpoints/<run id>[.<kind>].pt``: the selected model, or (``resume``) the state
    an interrupted run goes on from."""
    check_name(run_id, "run id", MAX_RUN_ID)
    suffix = f".{kind}.pt" if kind else ".pt"
    return inside(Path(runs_dir) / "checkpoints", f"{run_id}{suffix}")


def write_record(path: Path, record: dict[str, Any]) -> Path:
    return write_json(path, record)


@dataclass(frozen=True)
class Problem:
    """A record that could not be used, and why."""

    path: Path
    reason: str


PERCENT_METRICS = ("R1", "R5", "R10", "R50", "mAP10", "geo")
RANK_METRICS = ("MedR", "MeanR")
OPTIONAL_TYPES: dict[str, type | tuple[type, ...]] = {
    "run_id": str,
    "created": str,
    "text_pooling": (str, type(None)),
    "text_encoder": (str, type(None)),
    "protocol_hash": str,
    "untrained": bool,
    "settings": dict,
    "config": dict,
    "device": str,
    "execution": dict,
    "protocol": dict,
    "order_contrast": (dict, type(None)),
}
"""Record fields that may be missing (older records) but when present have these types."""


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def schema_problem(record: Any) -> str | None:
    """Why ``record`` is not a valid run record (types and ranges of what the harness reads
    back), or None."""
    if not isinstance(record, dict) or record.get("schema") != SCHEMA_VERSION:
        return f"not a schema-{SCHEMA_VERSION} run record"
    for key in ("dataset", "extractor", "pooling"):
        if not isinstance(record.get(key), str):
            return f"run record's {key} is not a string"
    seed = record.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        return "run record's seed is not a whole number >= 0"
    for key, kind in OPTIONAL_TYPES.items():
        if key in record and not isinstance(record[key], kind):
            return f"run record's {key} has the wrong type"
    test = record.get("test")
    if not isinstance(test, dict) or not all(isinstance(test.get(d), dict) for d in DIRECTIONS):
        return "run record has no test metrics"
    for direction in DIRECTIONS:
        for metric, value in test[direction].items():
            if not _number(value):
                return f"run record's test {direction} {metric} is not a finite number"
            low, high = (1.0, math.inf) if metric in RANK_METRICS else (0.0, 100.0)
            if metric in PERCENT_METRICS + RANK_METRICS and not low <= value <= high:
                return f"run record's test {direction} {metric} = {value} is out of range"
    return None


def read_record(path: Path) -> dict[str, Any]:
    """One run record; an unreadable or invalid file is an error naming it (records are
    remade by running again)."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise AtrBenchError(
            f"{path}: unreadable run record ({reason}); delete it to redo the run"
        ) from None
    problem = schema_problem(record)
    if problem is not None:
        raise AtrBenchError(f"{path}: {problem}")
    return record


def read_records(runs_dir: Path) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Every usable record under ``runs_dir``; unreadable or incompatible ones are reported."""
    records, problems = [], []
    for path in sorted(Path(runs_dir).glob("*.json")):
        try:
            records.append(read_record(path))
        except AtrBenchError as exc:
            problems.append(Problem(path, str(exc).removeprefix(f"{path}: ")))
    return records, problems


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single seed)."""
    arr = np.asarray(values, dtype=float)
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def format_mean_std(values: Sequence[float], digits: int = 1) -> str:
    mean, std = mean_std(values)
    return f"{mean:.{digits}f}" if len(values) == 1 else f"{mean:.{digits}f} ± {std:.{digits}f}"


def metrics_table(records: Iterable[dict[str, Any]], tablefmt: str = "github") -> str:
    """Test metrics of a group of runs (one row per direction), mean ± std over the seeds."""
    records = list(records)
    rows = [
        [direction]
        + [format_mean_std([r["test"][direction][m] for r in records]) for m in TABLE_METRICS]
        for direction in DIRECTIONS
    ]
    return tabulate(rows, headers=["", *TABLE_METRICS], tablefmt=tablefmt, disable_numparse=True)
