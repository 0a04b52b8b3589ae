"""Run records: one JSON file per run under ``runs/``, written atomically, read back tolerantly."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from atr_bench.errors import AtrBenchError
from atr_bench.files.atomic import write_json
from atr_bench.files.names import MAX_RUN_ID, check_name, inside
from atr_bench.files.reading import read_json
from atr_bench.record.run_record import RunRecord


def execution(device: torch.device, threads: int | None = None) -> dict[str, Any]:
    """What besides the protocol changes a run's numbers: torch's version, and on CPU the
    thread count (it changes how reductions are split, hence the floating-point results) and
    the vector instruction set torch's kernels use there (``AVX2``, ``AVX512``, ...: it changes
    their summation order), or the GPU. ``threads`` defaults to torch's current setting."""
    out: dict[str, Any] = {"torch": torch.__version__, "device": device.type}
    if device.type == "cpu":
        out["threads"] = threads or torch.get_num_threads()
        out["cpu"] = torch.backends.cpu.get_cpu_capability()
    else:
        out["gpu"] = torch.cuda.get_device_name(device)
    return out


def _describe(execution: dict[str, Any]) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(execution.items()))


def read_done(path: Path, expected: dict[str, Any]) -> RunRecord:
    """The record at ``path`` of a run that is already done under ``expected`` execution; an
    error when it is not this run's (another run id: copied there) or was recorded under
    another execution. What a record does not say (records older than a key, or than
    ``execution`` itself) is taken to match."""
    record = read_record(path)
    run_id = Path(path).name.removesuffix(".json")
    if record.run_id is not None and record.run_id != run_id:
        raise AtrBenchError(
            f"{path}: holds the record of another run ({record.run_id}), so this run is not "
            "done; move that file to its own name, or pass --force to redo this run over it"
        )
    recorded = record.execution
    if recorded is not None and any(recorded[k] != v for k, v in expected.items() if k in recorded):
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


def write_record(path: Path, record: RunRecord) -> Path:
    return write_json(path, record.to_json())


@dataclass(frozen=True)
class Problem:
    """A record that could not be used, and why."""

    path: Path
    reason: str


def read_record(path: Path) -> RunRecord:
    """One run record; an unreadable or invalid file is an error naming it (records are
    remade by running again)."""
    try:
        record = read_json(path, "run record", REDO)
    except FileNotFoundError:
        raise AtrBenchError(f"{path}: unreadable run record (no such file); {REDO}") from None
    return record_from(record, path)


REDO = "delete it to redo the run"
"""The fix for a run record that cannot be read: runs make theirs again."""


def record_from(value: Any, where: Path | str) -> RunRecord:
    """The run record in a JSON value read from ``where``; an error naming it when the value
    is not one."""
    try:
        return RunRecord.from_json(value)
    except ValueError as exc:
        raise AtrBenchError(f"{where}: {exc}") from None


def records_by_path(runs_dir: Path) -> tuple[dict[Path, RunRecord], list[Problem]]:
    """Every usable record under ``runs_dir`` by its file; unreadable or incompatible ones are
    reported."""
    records, problems = {}, []
    for path in sorted(Path(runs_dir).glob("*.json")):
        try:
            records[path] = read_record(path)
        except AtrBenchError as exc:
            problems.append(Problem(path, str(exc).removeprefix(f"{path}: ")))
    return records, problems


def read_records(runs_dir: Path) -> tuple[list[RunRecord], list[Problem]]:
    """Every usable record under ``runs_dir``; unreadable or incompatible ones are reported."""
    records, problems = records_by_path(runs_dir)
    return list(records.values()), problems
