"""``atr-bench bundle``: chosen runs of a runs folder (records and per-query ranks) in one file
another lab puts beside its own (``atr-bench leaderboard --runs-dir theirs.atrb.zip``)."""

from __future__ import annotations

import argparse
import shlex
from dataclasses import fields
from pathlib import Path

from atr_bench.cli.options import path_arg, writable_dir
from atr_bench.errors import AtrBenchError
from atr_bench.files.names import check_name
from atr_bench.files.replacing import refuse_replacing

FILTERS = {
    "dataset": "datasets",
    "protocol": "protocols (name, or name@version)",
    "extractor": "audio extractors",
    "pooling": "audio poolings",
    "hash": "protocol hashes or their first characters, as a board's hash column shows them",
    "run-id": "run ids",
}


def add_bundle_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bundle",
        help="put chosen runs (records, per-query ranks) in one file to share; "
        "`atr-bench leaderboard --runs-dir FILE` reads it",
    )
    p.add_argument("--runs-dir", type=path_arg, default=Path("runs"), help="default: ./runs")
    p.add_argument(
        "--out", type=path_arg, required=True, help="the bundle to write, e.g. mylab.atrb.zip"
    )
    p.add_argument(
        "--name",
        default=None,
        help="the source name its rows carry on others' boards (letters, digits, single _ or "
        "-; default: the --out file's name without .atrb.zip)",
    )
    for flag, what in FILTERS.items():
        help = f"only runs of these {what} (comma-separated)"
        p.add_argument(f"--{flag}", default=None, help=help)
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=cmd_bundle)


def cmd_bundle(args: argparse.Namespace) -> int:
    from atr_bench.record.bundle import SUFFIX, write_bundle
    from atr_bench.record.selection import Selection, pick_runs

    def values(text: str | None) -> tuple[str, ...]:
        return tuple(dict.fromkeys(v.strip() for v in (text or "").split(",") if v.strip()))

    selection = Selection(**{f.name: values(getattr(args, f.name)) for f in fields(Selection)})
    name = args.name or args.out.name.removesuffix(".zip").removesuffix(SUFFIX.removesuffix(".zip"))
    check_name(name, "--name" if args.name else "bundle name (from --out; or pass --name)")
    if not args.runs_dir.is_dir():
        raise AtrBenchError(f"--runs-dir {args.runs_dir}: no such runs folder")
    if args.out.is_dir():
        raise AtrBenchError(f"--out {args.out}: a folder; name the bundle's file")
    if not args.overwrite:
        refuse_replacing([args.out])
    writable_dir(args.out.parent, "--out")
    runs, problems = pick_runs(args.runs_dir, selection)
    for problem in problems:
        print(f"skipped {problem.path}: {problem.reason}")
    if not runs:
        raise AtrBenchError(
            f"--runs-dir {args.runs_dir}: no usable run records match "
            f"{' '.join(selection.flags()) or 'any filter'}; nothing bundled"
        )
    command = shlex.join(
        ["atr-bench", "bundle", "--runs-dir", str(args.runs_dir), *selection.flags()]
    )
    write_bundle(args.out, name, runs, command)
    ranked = sum(run.ranks is not None for run in runs)
    print(f"{len(runs)} runs ({ranked} with per-query ranks) -> {args.out}, source name {name}")
    return 0
