"""The suite's pytest-benchmark JSON report, read back: the rows one kind of benchmark wrote
(its ``extra_info``) and the machine facts with the run's date."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from atr_bench.errors import AtrBenchError


def read_suite_report(path: Path, field: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The ``extra_info`` of every benchmark that recorded ``field``, and the machine facts;
    an unreadable file is a one-line error naming it."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise AtrBenchError(f"cannot read benchmark report {path}: {exc}") from None
    rows = [b["extra_info"] for b in data.get("benchmarks", []) if field in b.get("extra_info", {})]
    machine = data.get("machine_info", {}).get("atr_bench", {})
    return rows, {**machine, "date": data.get("datetime", "?")[:19]}
