"""Candidate protocols side by side, judged on the validation split: for each group of run
records (protocol and settings), the validation score of the epoch each run selected (the
geometric mean of t2a R@1/5/10, the selection rule of every built-in protocol) and its test
t2a R@1, as mean ± sample std over seeds. The choice is made on the first column only.

    python benchmarks/tuning_report.py RUNS_DIR [--pooling netrvlad]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import tabulate

from atr_bench.record.results import read_records
from atr_bench.record.run_record import RunRecord
from atr_bench.report.stats import format_mean_std, mean_std


def _selected_val_geo(record: RunRecord) -> float:
    by_epoch = {entry["epoch"]: entry for entry in record.val_curve}
    return float(by_epoch[record.best_epoch]["val"]["t2a"]["geo"])


def rows(records: list[RunRecord], pooling: str) -> list[list[str]]:
    groups: dict[tuple[str, str], list[RunRecord]] = defaultdict(list)
    for record in records:
        if record.pooling == pooling and record.protocol is not None:
            settings = json.dumps(record.settings or {}, sort_keys=True)
            groups[record.protocol.name, settings].append(record)
    scored = []
    for (protocol, settings), group in groups.items():
        group.sort(key=lambda r: r.seed)
        val, val_std = mean_std([_selected_val_geo(r) for r in group])
        row = [
            protocol,
            ", ".join(f"{k}={v}" for k, v in json.loads(settings).items()) or "–",
            ",".join(str(r.seed) for r in group),
            f"{val:.2f} ± {val_std:.2f}",  # two decimals: the choice can hinge on them
            ",".join(str(r.best_epoch) for r in group),
            format_mean_std(*mean_std([r.test["t2a"]["R1"] for r in group])),
            format_mean_std(*mean_std([r.test["a2t"]["R1"] for r in group])),
        ]
        scored.append((val, row))
    return [row for _, row in sorted(scored, key=lambda pair: pair[0])]


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
