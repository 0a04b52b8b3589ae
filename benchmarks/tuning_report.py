"""Candidate protocols side by side, judged on the validation split: for each group of run
records (protocol and settings), the validation score of the epoch each run selected (the
geometric mean of t2a R@1/5/10, the selection rule of every built-in protocol) and its test
t2a R@1, as mean ± sample std over seeds. The choice is made on the first column only.

    python benchmarks/tuning_report.py RUNS_DIR [--pooling netrvlad]
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

import tabulate

from atr_bench.record.results import read_records
from atr_bench.record.run_record import RunRecord


def _spread(values: list[float], digits: int = 1) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {std:.{digits}f}"


def _selected_val_geo(record: RunRecord) -> float:
    by_epoch = {entry["epoch"]: entry for entry in record.val_curve}
    return float(by_epoch[record.best_epoch]["val"]["t2a"]["geo"])


def rows(records: list[RunRecord], pooling: str) -> list[list[str]]:
    groups: dict[tuple[str, str], list[RunRecord]] = defaultdict(list)
    for record in records:
        if record.pooling == pooling and record.protocol is not None:
            settings = json.dumps(record.settings or {}, sort_keys=True)
            groups[record.protocol.name, settings].append(record)
    table = []
    for (protocol, settings), group in groups.items():
        group.sort(key=lambda r: r.seed)
        table.append(
            [
                protocol,
                ", ".join(f"{k}={v}" for k, v in json.loads(settings).items()) or "–",
                ",".join(str(r.seed) for r in group),
                _spread([_selected_val_geo(r) for r in group], 2),
                ",".join(str(r.best_epoch) for r in group),
                _spread([r.test["t2a"]["R1"] for r in group]),
                _spread([r.test["a2t"]["R1"] for r in group]),
            ]
        )
    return sorted(table, key=lambda row: float(row[3].split(" ")[0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs_dir", type=Path)
    parser.add_argument("--pooling", default="netrvlad")
    args = parser.parse_args()
    records, problems = read_records(args.runs_dir)
    for problem in problems:
        print(f"skipped {problem.path}: {problem.reason}")
    headers = [
        "protocol",
        "settings",
        "seeds",
        "val t2a geo (selected epoch)",
        "selected epochs",
        "test t2a R@1",
        "test a2t R@1",
    ]
    print(tabulate.tabulate(rows(records, args.pooling), headers, tablefmt="github"))


if __name__ == "__main__":
    main()
