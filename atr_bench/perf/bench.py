"""``atr-bench bench``: run the pooling throughput suite and write its summary table.

The suite is the repository's ``benchmarks/`` directory (pytest-benchmark tests plus the plain
reference implementations, which are deliberately not part of the installed package). The
command runs that same suite in a pytest subprocess, so ``pytest benchmarks --benchmark-only``
and ``atr-bench bench`` measure identically, then summarises the JSON report it wrote.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import torch

from atr_bench.errors import AtrBenchError
from atr_bench.perf.throughput import SHAPES
from atr_bench.plugins.registry import registry

DEFAULT_SUITE = Path(__file__).resolve().parents[2] / "benchmarks"
"""Where a source checkout (or an editable install) keeps the suite."""
SUITE_FILE = "test_pooling_throughput.py"
"""The pooling benchmarks within the suite (it may hold other benchmarks too)."""


def add_bench_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``bench`` subcommand."""
    p = sub.add_parser("bench", help="pooling throughput: run the benchmark suite, write a table")
    p.add_argument("--pooling", default="", help="comma-separated poolings (default: all)")
    p.add_argument(
        "--shape",
        default="",
        help="comma-separated shapes (default: all): " + ", ".join(s.name for s in SHAPES),
    )
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="default: cpu")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default: 1, steady on shared machines; 0: torch's default)",
    )
    p.add_argument("--suite", type=Path, default=None, help=f"default: {DEFAULT_SUITE}")
    p.add_argument(
        "--json",
        type=Path,
        default=Path(".benchmarks/pooling-throughput.json"),
        help="the suite's JSON report (default: .benchmarks/pooling-throughput.json)",
    )
    p.add_argument(
        "--from-json", action="store_true", help="only summarise the existing --json report"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("leaderboards/pooling-throughput.md"),
        help="default: leaderboards/pooling-throughput.md",
    )
    p.set_defaults(func=cmd_bench)


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def suite_args(args: argparse.Namespace) -> list[str]:
    """The suite's own options for this selection, checked before anything runs."""
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
    for flag in ("pooling", "shape"):
        if getattr(args, flag):
            out += [f"--{flag}", getattr(args, flag)]
    return out


def run_suite(suite: Path, json_path: Path, options: list[str]) -> None:
    """Run ``pytest SUITE --benchmark-only`` writing ``json_path``; a failure is an error."""
    if not (suite / SUITE_FILE).is_file():
        raise AtrBenchError(
            f"no benchmark suite at {suite}; `atr-bench bench` runs the benchmarks/ directory "
            "of a source checkout: pass --suite DIR"
        )
    json_path.parent.mkdir(parents=True, exist_ok=True)
    tests = str(suite / SUITE_FILE)
    command = [sys.executable, "-m", "pytest", tests, "--benchmark-only", "-q"]
    command += ["-p", "no:cacheprovider", "--benchmark-json", str(json_path), *options]
    code = subprocess.run(command, cwd=suite.parent, check=False).returncode
    if code != 0:
        raise AtrBenchError(f"the benchmark suite failed (pytest exit code {code}); see above")


def cmd_bench(args: argparse.Namespace) -> int:
    from atr_bench.perf.bench_report import write_report  # pandas: loaded only when needed

    options = suite_args(args)
    json_path = args.json.resolve()
    if not args.from_json:
        run_suite((args.suite or DEFAULT_SUITE).resolve(), json_path, options)
    command = " ".join(
        ["atr-bench bench", "--from-json", "--json", str(args.json)]
        if args.from_json
        else ["atr-bench bench", *options]
    )
    print(f"wrote {write_report(json_path, args.out, command)}")
    return 0
