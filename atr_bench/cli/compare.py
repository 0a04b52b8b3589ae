"""``atr-bench compare``: is one row really better than another?"""

from __future__ import annotations

import argparse
from pathlib import Path

from atr_bench.cli.options import path_arg


def add_compare_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="paired difference of two rows per metric: 95%% interval and p-value",
    )
    p.add_argument("row_a", metavar="ROW_A", help="a run id, or a row's protocol hash (prefix)")
    p.add_argument("row_b", metavar="ROW_B", help="the same for the other row")
    p.add_argument("--runs-dir", type=path_arg, default=Path("runs"), help="default: ./runs")
    p.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    from atr_bench.report.compare import compare

    print(compare(args.runs_dir, args.row_a, args.row_b))
    return 0
