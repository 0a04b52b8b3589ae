"""What the subcommands share: argument types and checks, component flags, the data root and
writable folders."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

from atr_bench.errors import AtrBenchError
from atr_bench.plugins.registry import registry
from atr_bench.plugins.specs import ExtractorSpec, parse_option_strings

DATA_ENV = "ATR_BENCH_DATA"


def seed_list(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not seeds:
        raise argparse.ArgumentTypeError("give at least one seed")
    bad = [s for s in seeds if not 0 <= s <= MAX_SEED]
    if bad:
        raise argparse.ArgumentTypeError(f"seed {bad[0]} is not in 0..{MAX_SEED}")
    twice = [s for i, s in enumerate(seeds) if s in seeds[:i]]
    if twice:
        raise argparse.ArgumentTypeError(f"seed {twice[0]} is given twice")
    return seeds


MAX_SEED = 2**32 - 1
"""numpy's seeds are 32-bit."""


def add_component(parser: argparse.ArgumentParser, name: str, default: str | None, what: str):
    parser.add_argument(f"--{name}", default=default, help=what)
    parser.add_argument(
        f"--{name}-opt",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"an option of the {name.replace('-', ' ')} (repeatable; see `atr-bench list`)",
    )


def add_data_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-root", type=path_arg, default=None, help=f"default: ${DATA_ENV} or ./data"
    )


def positive(args: argparse.Namespace, *names: str, most: int = 1 << 20) -> None:
    """Each named count is a whole number from 1 to ``most``."""
    for name in names:
        value = getattr(args, name)
        if value is not None and not 1 <= value <= most:
            raise AtrBenchError(f"--{name.replace('_', '-')} {value}: must be from 1 to {most}")


MAX_THREADS = 256
"""More CPU threads than this is a typo (OpenMP crashes at some thousands)."""


def set_threads(threads: int | None) -> None:
    import torch

    if threads is not None:
        if not 1 <= threads <= MAX_THREADS:
            raise AtrBenchError(f"--threads {threads}: must be from 1 to {MAX_THREADS}")
        torch.set_num_threads(threads)


def path_arg(text: str) -> Path:
    """A command-line path: an empty one would silently mean the current folder, and a line
    break in one is a typo (or worse), so both are refused."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty path; name a folder or file (. for this one)")
    if any(ord(ch) < 32 for ch in text):
        raise argparse.ArgumentTypeError(f"{text!r}: a path with a line break or control character")
    return Path(text)


def data_root(given: Path | None) -> Path:
    """``--data-root``, else ``$ATR_BENCH_DATA``, else ``./data``; an empty variable is an
    error rather than the current folder."""
    if given is not None:
        return given
    value = os.environ.get(DATA_ENV)
    if value is None:
        return Path("data")
    try:
        return path_arg(value)
    except argparse.ArgumentTypeError as exc:
        raise AtrBenchError(f"${DATA_ENV}: {exc}; set it to the data folder, or unset it") from None


def writable_dir(path: Path, flag: str) -> Path:
    """``path`` as a folder this process can write in, or can make (its nearest existing
    ancestor is a writable folder); checked before any work, so that a run does not fail
    after training, and nothing is created yet."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise AtrBenchError(f"{flag} {path}: {existing} is a file, not a folder; name a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise AtrBenchError(
            f"{flag} {path}: cannot write in {existing} ({exc.strerror}); name a writable folder"
        ) from None
    return path


def dataset_and_extractor(args: argparse.Namespace) -> tuple[Any, ExtractorSpec, dict[str, Any]]:
    """The dataset (built with ``--dataset-opt``), the extractor and its resolved options."""
    reg = registry()
    dataset_spec = reg.get("dataset", args.dataset)
    dataset_opts = parse_option_strings(args.dataset_opt, "--dataset-opt")
    dataset = dataset_spec.create(
        data_root(args.data_root),
        **dataset_spec.resolve_options(dataset_opts, flag="--dataset-opt"),
    )
    extractor = reg.get("extractor", args.extractor)
    options = extractor.resolve_options(
        parse_option_strings(args.extractor_opt, "--extractor-opt"), flag="--extractor-opt"
    )
    return dataset, extractor.configured(options), options
