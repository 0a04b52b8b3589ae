"""``atr-bench bench``: run the throughput suite and write its summary tables.

The suite lives in the package (``atr_bench.perf.suite``), so the command works from an
installed wheel; the repository's ``benchmarks/`` folder re-exports it, so
``pytest benchmarks --benchmark-only`` and ``atr-bench bench`` measure identically. The command
runs it in a pytest subprocess, then summarises the JSON report it wrote: the pooling table and
the end-to-end training-step table.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
from pathlib import Path

from atr_bench.cli.options import path_arg, writable_dir
from atr_bench.cli.output_folder import add_out_arguments, keep_out_of_git, new_folder
from atr_bench.errors import AtrBenchError
from atr_bench.files.names import inside
from atr_bench.files.replacing import refuse_replacing
from atr_bench.perf.shapes import SHAPES
from atr_bench.plugins.registry import registry

SUITE = Path(__file__).resolve().parent / "suite"
"""The suite inside the installed package; its hooks are the ``plugin`` module."""
PLUGIN = "atr_bench.perf.suite.plugin"
BENCHMARKS = {"pooling": "poolings.py", "step": "steps.py"}
"""What ``--benchmarks`` picks: the pooling throughput, the end-to-end training step."""
REPORTS = {"pooling": "pooling-throughput.md", "step": "training-step-throughput.md"}
"""The table each benchmark writes into ``--out``."""


def add_bench_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``bench`` subcommand."""
    p = sub.add_parser("bench", help="throughput: run the benchmark suite, write its tables")
    p.add_argument(
        "--benchmarks",
        default="pooling,step",
        help="pooling (each pooling alone), step (a whole training step and an evaluation "
        "pass) or both (default: pooling,step)",
    )
    p.add_argument("--pooling", default="", help="comma-separated poolings (default: all)")
    p.add_argument(
        "--shape",
        default="",
        help="comma-separated shapes (default: all): " + ", ".join(s.name for s in SHAPES),
    )
    p.add_argument("--dtype", default="", help="fp32, bf16 or both (default: both; poolings)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="default: cpu")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default: 1, steady on shared machines; 0: torch's default)",
    )
    p.add_argument(
        "--json",
        type=path_arg,
        default=Path(".benchmarks/pooling-throughput.json"),
        help="the suite's JSON report (default: .benchmarks/pooling-throughput.json)",
    )
    p.add_argument(
        "--from-json", action="store_true", help="only summarise the existing --json report"
    )
    add_out_arguments(p, "bench", f"{REPORTS['pooling']} and {REPORTS['step']}")
    p.set_defaults(func=cmd_bench)


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def chosen_benchmarks(args: argparse.Namespace) -> list[str]:
    """The ``--benchmarks`` asked for, checked."""
    chosen = _names(args.benchmarks)
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown or not chosen:
        raise AtrBenchError(
            f"--benchmarks {args.benchmarks!r}: expected pooling, step or pooling,step"
        )
    return chosen


def suite_args(args: argparse.Namespace) -> list[str]:
    """The suite's own options for this selection, checked before anything runs."""
    import torch

    from atr_bench.perf.throughput import DTYPES

    for name in _names(args.pooling):
        registry().find("pooling", name)
    known = {s.name for s in SHAPES}
    for name in _names(args.shape):
        if name not in known:
            raise AtrBenchError(f"unknown shape {name!r}; known: {', '.join(sorted(known))}")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise AtrBenchError("--device cuda: CUDA is not available on this machine")
    if args.threads < 0:
        raise AtrBenchError("--threads must be at least 1 (or 0 for torch's default)")
    out = ["--device", args.device, "--threads", str(args.threads)]
    for name in _names(args.dtype):
        if name not in DTYPES:
            raise AtrBenchError(f"unknown dtype {name!r}; known: fp32, bf16")
    for flag in ("pooling", "shape", "dtype"):
        if getattr(args, flag):
            out += [f"--{flag}", getattr(args, flag)]
    return out


def run_suite(benchmarks: list[str], json_path: Path, options: list[str]) -> None:
    """Run ``pytest -p PLUGIN FILES --benchmark-only`` writing ``json_path``; a failure is an
    error. It runs in the suite's folder, writing nothing there (no cache; pytest-benchmark's
    storage folder beside the JSON report)."""
    json_path.parent.mkdir(parents=True, exist_ok=True)
    tests = [str(SUITE / BENCHMARKS[name]) for name in benchmarks]
    command = [sys.executable, "-m", "pytest", "-p", PLUGIN, *tests, "--benchmark-only", "-q"]
    command += ["-p", "no:cacheprovider", "--benchmark-json", str(json_path), *options]
    command += ["--benchmark-storage", f"file://{json_path.parent}"]  # not in the package
    code = subprocess.run(command, cwd=SUITE, check=False).returncode
    if code != 0:
        raise AtrBenchError(f"the benchmark suite failed (pytest exit code {code}); see above")


def cmd_bench(args: argparse.Namespace) -> int:
    from atr_bench.perf.bench_report import write_report  # pandas: loaded only when needed
    from atr_bench.perf.step_report import write_step_report

    benchmarks = chosen_benchmarks(args)
    options = suite_args(args)
    out = args.out or new_folder("bench")
    paths = {name: inside(writable_dir(out, "--out"), REPORTS[name]) for name in benchmarks}
    if not args.overwrite:  # before the suite runs for minutes
        refuse_replacing(paths.values())
    json_path = args.json.resolve()
    if not args.from_json:
        if importlib.util.find_spec("pytest_benchmark") is None:
            raise AtrBenchError(
                "atr-bench bench needs pytest and pytest-benchmark: pip install 'atr-bench[test]'"
            )
        run_suite(benchmarks, json_path, options)
    picked = [] if benchmarks == list(BENCHMARKS) else ["--benchmarks", args.benchmarks]
    command = " ".join(
        ["atr-bench bench", "--from-json", "--json", str(args.json)]
        if args.from_json
        else ["atr-bench bench", *picked, *options]
    )
    writers = {"pooling": write_report, "step": write_step_report}
    errors = []
    for name in benchmarks:  # a report may hold one kind of results only
        try:
            print(f"wrote {writers[name](json_path, paths[name], command)}")
        except AtrBenchError as exc:
            errors.append(exc)
    if len(errors) == len(benchmarks):
        raise errors[0]
    for error in errors:
        print(f"not written: {error}", file=sys.stderr)
    if args.out is None and (ignore := keep_out_of_git(out)) is not None:
        print(f"also wrote {ignore}, so git ignores {out}/ (delete it to commit the folder)")
    return 0
