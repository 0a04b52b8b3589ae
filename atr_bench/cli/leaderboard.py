"""``atr-bench leaderboard``: run records -> tables."""

from __future__ import annotations

import argparse
from pathlib import Path

from atr_bench.cli.options import path_arg, writable_dir
from atr_bench.cli.output_folder import add_out_arguments, keep_out_of_git, new_folder
from atr_bench.report.formats import FORMATS, INTERVAL_METHODS, LATEX_COLUMNS


def add_leaderboard_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("leaderboard", help="aggregate run records into per-dataset tables")
    p.add_argument(
        "--runs-dir",
        type=path_arg,
        action="append",
        default=None,
        help="a runs folder or a bundle (atr-bench bundle); repeat it to put several on one "
        "board, each row saying where its runs came from (default: ./runs)",
    )
    p.add_argument(
        "--prefer",
        default=None,
        metavar="SOURCE",
        help="where copies of one run id in two sources hold different numbers, use this "
        "source's copy (a --runs-dir as given, or a bundle's name); by default every copy is "
        "left off and the conflict reported",
    )
    add_out_arguments(p, "leaderboard", "the boards")
    p.add_argument("--dataset", default=None, help="only these datasets (comma-separated)")
    p.add_argument(
        "--format",
        default=",".join(FORMATS),
        help=f"comma-separated files to write (default: {','.join(FORMATS)})",
    )
    _add_latex_arguments(p)
    p.add_argument(
        "--intervals",
        default="t2a_R1,t2a_R10",
        help="metrics (direction_metric, comma-separated) given a 95%% bootstrap interval on "
        "rows whose records kept per-query ranks (default: t2a_R1,t2a_R10)",
    )
    p.add_argument(
        "--interval-method",
        choices=INTERVAL_METHODS,
        default=INTERVAL_METHODS[0],
        help="what the intervals resample: seeds+queries (default; widens with the seeds' "
        "spread, none for a single seed) or queries (the test queries only)",
    )
    p.add_argument(
        "--command",
        default=None,
        help="the command line that reproduces the boards, written at the top of every file "
        "instead of the one derived from the records (the sweeps that make their runs, then "
        "this leaderboard call)",
    )
    p.add_argument(
        "--include-smoke",
        action="store_true",
        help="put smoke-sized runs (dataset sizes set, fewer epochs than the protocol) on "
        "boards of their own instead of leaving them off",
    )
    p.set_defaults(func=cmd_leaderboard)


def _add_latex_arguments(p: argparse.ArgumentParser) -> None:
    """The paper table's choices: its statistics and its rows."""
    p.add_argument(
        "--columns",
        default=",".join(LATEX_COLUMNS),
        help="the LaTeX table's statistics, direction_metric comma-separated (default: "
        f"{','.join(LATEX_COLUMNS)}; the Markdown and CSV boards keep every column)",
    )
    p.add_argument(
        "--rows",
        default="",
        help="the LaTeX table's rows: poolings, extractors or 4+ characters of run hashes, "
        "comma-separated (default: every row; bold is still judged against all of them)",
    )


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from atr_bench.report.leaderboard import build_leaderboards

    def split(text: str) -> list[str]:
        return [v.strip() for v in text.split(",") if v.strip()]

    out = args.out or new_folder("leaderboard")
    writable_dir(out, "--out")
    report = build_leaderboards(
        args.runs_dir or [Path("runs")],
        out,
        datasets=split(args.dataset) if args.dataset else None,
        formats=split(args.format),
        command=args.command,
        intervals=split(args.intervals),
        interval_method=args.interval_method,
        include_smoke=args.include_smoke,
        prefer=args.prefer,
        columns=split(args.columns),
        rows=split(args.rows),
        overwrite=args.overwrite,
    )
    print("\n".join(report.lines()))
    if args.out is None and (ignore := keep_out_of_git(out)) is not None:
        print(f"also wrote {ignore}, so git ignores {out}/ (delete it to commit the folder)")
    return 0
