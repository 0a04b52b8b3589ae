"""The suite's pytest-benchmark JSON report, read back: the rows one kind of benchmark wrote
(its ``extra_info``) and the machine facts with the run's date."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from atr_bench.errors import AtrBenchError
from atr_bench.files.reading import read_json


def read_suite_report(path: Path, field: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The ``extra_info`` of every benchmark that recorded ``field``, and the machine facts;
    an unreadable file is a one-line error naming it."""
    fix = "give the JSON file `pytest benchmarks/ --benchmark-json FILE` wrote"
    try:
        data = read_json(Path(path), "benchmark report", fix)
    except FileNotFoundError:
        raise AtrBenchError(f"{path}: no such benchmark report; {fix}") from None
    benchmarks = data.get("benchmarks") if isinstance(data, dict) else None
    if not isinstance(benchmarks, list) or not all(isinstance(b, dict) for b in benchmarks):
        raise AtrBenchError(f"{path}: not a pytest-benchmark report (no benchmarks list); {fix}")
    rows = [
        b["extra_info"]
        for b in benchmarks
        if isinstance(b.get("extra_info"), dict) and field in b["extra_info"]
    ]
    machine = data.get("machine_info", {})
    machine = machine.get("atr_bench", {}) if isinstance(machine, dict) else {}
    date = data.get("datetime")
    return rows, {**(machine if isinstance(machine, dict) else {}), "date": str(date or "?")[:19]}
