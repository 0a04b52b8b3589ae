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
    p.add_argument(
        "--runs-dir",
        type=path_arg,
        action="append",
        default=None,
        help="a runs folder or a bundle; repeat it to compare rows of several (default: ./runs)",
    )
    p.add_argument(
        "--prefer",
        default=None,
        metavar="SOURCE",
        help="where copies of one run id differ between sources, use this source's copy",
    )
    p.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    from atr_bench.report.compare import compare

    print(compare(args.runs_dir or [Path("runs")], args.row_a, args.row_b, args.prefer))
    return 0
