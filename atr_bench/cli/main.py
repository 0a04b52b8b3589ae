"""The ``atr-bench`` command line."""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from tabulate import tabulate

from atr_bench import __version__
from atr_bench.data.streamed import STREAM_MODES
from atr_bench.errors import AtrBenchError
from atr_bench.plugins.registry import registry
from atr_bench.plugins.specs import ExtractorSpec, parse_option_strings
from atr_bench.run.config import RunConfig
from atr_bench.run.losses import LOSSES

DATA_ENV = "ATR_BENCH_DATA"


def _seeds(text: str) -> list[int]:
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
    return seeds


MAX_SEED = 2**32 - 1
"""numpy's seeds are 32-bit."""
NUMBERS = {
    "lr": ("> 0", lambda v: v > 0),
    "weight_decay": (">= 0", lambda v: v >= 0),
    "gamma": ("in (0, 1]", lambda v: 0 < v <= 1),
    "margin": (">= 0", lambda v: v >= 0),
    "temperature": ("> 0", lambda v: v > 0),
    "batch_size": (">= 2 (a batch needs a negative)", lambda v: v >= 2),
}
"""Flags that must be finite numbers in a range, and the range."""


def _in_range(args: argparse.Namespace) -> None:
    for name, (rule, ok) in NUMBERS.items():
        value = getattr(args, name)
        if value is not None and not (math.isfinite(value) and ok(value)):
            flag = "--" + name.replace("_", "-")
            raise AtrBenchError(f"{flag} {value}: must be a finite number {rule}")


def _add_component(parser: argparse.ArgumentParser, name: str, default: str | None, what: str):
    parser.add_argument(f"--{name}", default=default, help=what)
    parser.add_argument(
        f"--{name}-opt",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"an option of the {name.replace('-', ' ')} (repeatable; see `atr-bench list`)",
    )


def _add_data_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-root", type=Path, default=None, help=f"default: ${DATA_ENV} or ./data"
    )


def _add_protocol_arguments(p: argparse.ArgumentParser, many: bool) -> None:
    """The arguments ``run`` and ``sweep`` share; with ``many``, components take lists."""
    defaults = RunConfig()
    lst = " (comma-separated list)" if many else ""
    _add_component(p, "dataset", defaults.dataset, f"dataset plugin{lst} (default: synthcaps)")
    _add_component(p, "extractor", defaults.extractor, f"audio extractor{lst} (default: lms)")
    _add_component(p, "pooling", defaults.pooling, f"audio pooling{lst} (default: netrvlad)")
    _add_component(p, "text-pooling", None, "text pooling (default: same as --pooling)")
    _add_component(p, "text-encoder", None, f"text encoder{lst} (default: the dataset's)")
    p.add_argument("--weights", default=None, help="extractor weights: a checkpoint or 'random'")
    p.add_argument("--seeds", type=_seeds, default=[0], help="comma-separated seeds (default: 0)")
    p.add_argument(
        "--protocol",
        default=defaults.protocol,
        help=f"the named protocol{lst} (default: {defaults.protocol}; see `atr-bench list`); "
        "the flags below override single settings of it",
    )
    proto = " (default: the protocol's)"
    p.add_argument("--epochs", type=int, default=None, help=proto)
    p.add_argument("--batch-size", type=int, default=None, help=proto)
    p.add_argument("--lr", type=float, default=None, help=proto)
    p.add_argument("--weight-decay", type=float, default=None, help=proto)
    p.add_argument("--gamma", type=float, default=None, help="StepLR decay per epoch" + proto)
    p.add_argument("--loss", choices=sorted(LOSSES), default=None, help=proto)
    p.add_argument("--margin", type=float, default=None, help=proto)
    p.add_argument("--temperature", type=float, default=None, help=proto)
    p.add_argument("--embed-dim", type=int, default=None, help=proto)
    p.add_argument("--audio-frames", type=int, default=None, help="default: the protocol's")
    p.add_argument("--text-tokens", type=int, default=None, help=proto)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    p.add_argument("--no-amp", action="store_true", help="no bf16 mixed precision on CUDA")
    p.add_argument(
        "--gate-batch-norm",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="BatchNorm in the gated embedding units' context gating" + proto,
    )
    p.add_argument(
        "--stream-features",
        choices=STREAM_MODES,
        default="auto",
        help="read audio features from disk a batch at a time instead of loading them whole "
        "(default auto: when they would take over half of this machine's memory); same numbers",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads per run (default: torch's; a sweep with --jobs N splits the cores). "
        "Use 1 on a machine other jobs share: small models slow down badly when threads wait",
    )
    _add_data_root(p)
    p.add_argument("--runs-dir", type=Path, default=Path("runs"))
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _run_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="train and test one configuration under the protocol")
    _add_protocol_arguments(p, many=False)
    p.add_argument("--force", action="store_true", help="redo seeds whose record already exists")
    p.set_defaults(func=cmd_run)


def _sweep_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="every combination of the components given, every seed")
    _add_protocol_arguments(p, many=True)
    p.add_argument("--jobs", type=int, default=1, help="parallel worker processes (default: 1)")
    p.set_defaults(func=cmd_sweep)


def _positive(args: argparse.Namespace, *names: str) -> None:
    for name in names:
        value = getattr(args, name)
        if value is not None and value < 1:
            raise AtrBenchError(f"--{name.replace('_', '-')} must be at least 1")


def config_from_args(args: argparse.Namespace) -> RunConfig:
    _positive(args, "epochs", "embed_dim", "text_tokens", "audio_frames")
    _in_range(args)

    given = vars(args)
    fields = {}
    for field in dataclasses.fields(RunConfig):
        if field.name.endswith("_options"):  # args.pooling_opt (--pooling-opt) -> pooling_options
            dest = field.name.replace("_options", "_opt")
            flag = "--" + dest.replace("_", "-")
            fields[field.name] = tuple(parse_option_strings(given[dest], flag).items())
        elif field.name in given:  # every other field has the flag of its own name
            fields[field.name] = given[field.name]
    return RunConfig(**fields, amp=not args.no_amp)


def _set_threads(threads: int | None) -> None:
    if threads is not None:
        if threads < 1:
            raise AtrBenchError(f"--threads {threads}: must be at least 1")
        torch.set_num_threads(threads)


def data_root(given: Path | None) -> Path:
    return given or Path(os.environ.get(DATA_ENV, "data"))


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


def cmd_run(args: argparse.Namespace) -> int:
    from atr_bench.record.results import execution, metrics_table, read_done, record_path
    from atr_bench.run import execute
    from atr_bench.run.plan import plan

    config = config_from_args(args)
    _set_threads(args.threads)
    device = execute.resolve_device(args.device)
    the_plan = plan(config, registry(), data_root(args.data_root))
    writable_dir(args.runs_dir, "--runs-dir")
    writable_dir(data_root(args.data_root), "--data-root")
    started = time.perf_counter()
    splits = execute.load_data(the_plan, device, not args.no_progress, args.stream_features)
    load_seconds = time.perf_counter() - started
    records = []
    for seed in args.seeds:
        path = record_path(args.runs_dir, the_plan.run_id(seed))
        if path.exists() and not args.force:
            records.append(read_done(path, execution(device)))
            print(f"seed {seed}: already done, {path} (--force redoes it)", file=sys.stderr)
            continue
        record = execute.run_seed(
            the_plan, splits, seed, device, args.runs_dir, load_seconds, not args.no_progress
        )
        records.append(record)
        print(f"wrote {path}", file=sys.stderr)
    seeds = ",".join(str(s) for s in args.seeds)
    print(f"\n{the_plan.label}  test metrics (%, ranks 1-based), seeds {seeds}, {device}\n")
    print(metrics_table(records))
    return 0


SWEPT = ("dataset", "extractor", "pooling", "text_encoder", "protocol")
"""Components a sweep crosses; each takes a comma-separated list."""


def cmd_sweep(args: argparse.Namespace) -> int:
    from atr_bench.run.sweep import expand, sweep

    _positive(args, "jobs")
    _set_threads(args.threads)
    writable_dir(args.runs_dir, "--runs-dir")
    writable_dir(data_root(args.data_root), "--data-root")
    grid = {}
    for name in SWEPT:
        given = getattr(args, name)
        values = [v.strip() for v in given.split(",") if v.strip()] if given else []
        setattr(args, name, values[0] if values else None)
        if values:
            grid[name] = values
    base = config_from_args(args)
    configs = expand(base, grid)
    report = sweep(
        configs,
        args.seeds,
        args.device,
        args.runs_dir,
        data_root(args.data_root),
        jobs=args.jobs,
        threads=args.threads,
        progress=not args.no_progress,
        stream=args.stream_features,
    )
    print(report.summary())
    return 1 if report.failures else 0


def _extract_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "extract", help="turn a folder of audio files into a dataset's feature files"
    )
    _add_component(p, "dataset", None, "dataset whose Index lists the clips (e.g. clotho)")
    _add_component(p, "extractor", None, "audio extractor (see `atr-bench list`)")
    p.add_argument("--audio-dir", type=Path, required=True, help="folder of wav/flac/ogg files")
    p.add_argument("--weights", default=None, help="the extractor's checkpoint, or 'random'")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    p.add_argument("--batch-size", type=int, default=16, help="clips per forward pass")
    _add_data_root(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_extract)


def _dataset_and_extractor(args: argparse.Namespace) -> tuple[Any, ExtractorSpec, dict[str, Any]]:
    """The dataset (built with ``--dataset-opt``), the extractor and its resolved options."""
    reg = registry()
    dataset_spec = reg.get("dataset", args.dataset)
    dataset_opts = parse_option_strings(args.dataset_opt, "--dataset-opt")
    dataset = dataset_spec.build(
        data_root(args.data_root), **dataset_spec.resolve_options(dataset_opts)
    )
    extractor = reg.get("extractor", args.extractor)
    options = extractor.resolve_options(parse_option_strings(args.extractor_opt, "--extractor-opt"))
    return dataset, extractor, options


def cmd_extract(args: argparse.Namespace) -> int:
    """Exit 0 when every clip is stored, 1 when some files were missing or unreadable."""
    from atr_bench.features.extract_folder import extract_folder
    from atr_bench.run.execute import resolve_device

    for flag in ("dataset", "extractor"):
        if not getattr(args, flag):
            raise AtrBenchError(f"atr-bench extract needs --{flag}; see `atr-bench list`")
    _positive(args, "batch_size")
    dataset, extractor, options = _dataset_and_extractor(args)
    device = str(resolve_device(args.device))
    report = extract_folder(
        dataset,
        extractor,
        {"weights": args.weights, "device": device, **options},
        args.audio_dir,
        batch_size=args.batch_size,
        progress=not args.no_progress,
    )
    print(report.summary())
    return 0 if report.complete else 1


PREPARERS = ("audiocaps", "clotho")


def _data_parser(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="dataset preparation")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    p = data_sub.add_parser(
        "prepare", help="write a dataset's Index files from its official caption files"
    )
    p.add_argument("dataset", choices=PREPARERS)
    p.add_argument(
        "--captions-dir",
        type=Path,
        required=True,
        help="folder with the official caption CSVs (Clotho: clotho_captions_*.csv; "
        "AudioCaps: train.csv, val.csv, test.csv)",
    )
    _add_data_root(p)
    p.set_defaults(func=cmd_data_prepare)
    p = data_sub.add_parser(
        "export",
        help="write a dataset as the paper's released code reads it (Index, one extractor's "
        "features, text features as TextEmbeddings/w2v_<split>.pkl)",
    )
    _add_component(p, "dataset", "synthcaps", "dataset plugin (default: synthcaps)")
    _add_component(p, "extractor", "lms", "audio extractor whose features to export")
    _add_component(p, "text-encoder", None, "text encoder (default: the dataset's)")
    p.add_argument("--out", type=Path, required=True, help="the data root to write")
    p.add_argument("--format", choices=("seed",), default="seed", help="only 'seed' so far")
    _add_data_root(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_data_export)


def cmd_data_prepare(args: argparse.Namespace) -> int:
    from atr_bench.data.prepare import prepare_audiocaps, prepare_clotho

    prepare = prepare_clotho if args.dataset == "clotho" else prepare_audiocaps
    dataset = registry().get("dataset", args.dataset).build(data_root(args.data_root))
    print(prepare(args.captions_dir, dataset.layout).summary())
    return 0


def cmd_data_export(args: argparse.Namespace) -> int:
    from atr_bench.data.export import export_seed_layout
    from atr_bench.data.layout import SPLITS
    from atr_bench.run.loading import text_features

    dataset, extractor, options = _dataset_and_extractor(args)
    dataset.ensure_audio_features(extractor, {"device": "cpu", **options}, not args.no_progress)
    encoder = registry().get("text_encoder", args.text_encoder or dataset.defaults.text_encoder)
    encoder_opts = encoder.resolve_options(
        parse_option_strings(args.text_encoder_opt, "--text-encoder-opt")
    )
    clips = {split: dataset.clips(split) for split in SPLITS}
    text = text_features(dataset, encoder, encoder_opts, clips)
    print(export_seed_layout(dataset, extractor.name, text, args.out).summary())
    return 0


def _leaderboard_parser(sub: argparse._SubParsersAction) -> None:
    from atr_bench.report.leaderboard import FORMATS

    p = sub.add_parser("leaderboard", help="aggregate run records into per-dataset tables")
    p.add_argument("--runs-dir", type=Path, default=Path("runs"), help="default: ./runs")
    p.add_argument("--out", type=Path, default=Path("leaderboards"), help="default: ./leaderboards")
    p.add_argument("--dataset", default=None, help="only these datasets (comma-separated)")
    p.add_argument(
        "--format",
        default=",".join(FORMATS),
        help=f"comma-separated files to write (default: {','.join(FORMATS)})",
    )
    p.add_argument(
        "--command",
        default=None,
        help="the command line that reproduces the runs, written at the top of every file "
        "(default: this leaderboard call)",
    )
    p.set_defaults(func=cmd_leaderboard)


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from atr_bench.report.leaderboard import build_leaderboards

    def split(text: str) -> list[str]:
        return [v.strip() for v in text.split(",") if v.strip()]

    writable_dir(args.out, "--out")
    report = build_leaderboards(
        args.runs_dir,
        args.out,
        datasets=split(args.dataset) if args.dataset else None,
        formats=split(args.format),
        command=args.command,
    )
    print("\n".join(report.lines()))
    return 0


def _cell(value: object) -> str:
    """A table cell: floats to 4 significant digits (10.0 -> 10, 1.0416666 -> 1.042)."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def cmd_list(args: argparse.Namespace) -> int:
    reg = registry()
    sections = [
        ("Extractors", "extractor", ("dim", "sample_rate", "frames_per_second")),
        ("Poolings", "pooling", ()),
        ("Text encoders", "text_encoder", ("dim",)),
        ("Datasets", "dataset", ()),
        ("Protocols", "protocol", ("version", "batch_items")),
    ]
    for title, kind, extra in sections:
        rows = []
        for found in reg.all(kind):
            spec, origin = found.spec, found.origin
            opts = ", ".join(f"{o.name}={o.default}" for o in spec.options)
            plugin = f"{origin.distribution} {origin.version} ({origin.plugin})"
            rows.append(
                [
                    spec.name,
                    *(_cell(getattr(spec, f)) for f in extra),
                    spec.description,
                    opts,
                    plugin,
                ]
            )
        headers = ["name", *(f.replace("_", " ") for f in extra), "description", "options"]
        print(f"{title}\n" + tabulate(rows, headers=[*headers, "plugin"], disable_numparse=True))
        print()
    for failure in reg.failures:
        print(f"plugin {failure.plugin!r} not loaded: {failure.reason}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="atr-bench", description="Audio-text retrieval benchmark harness."
    )
    parser.add_argument("--version", action="version", version=f"atr-bench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _run_parser(sub)
    _sweep_parser(sub)
    _extract_parser(sub)
    _data_parser(sub)
    _leaderboard_parser(sub)
    sub.add_parser(
        "list", help="every extractor, pooling, text encoder, dataset and protocol"
    ).set_defaults(func=cmd_list)
    from atr_bench.dev.scaffold import add_new_plugin_parser

    add_new_plugin_parser(sub)
    from atr_bench.perf.bench import add_bench_parser

    add_bench_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except AtrBenchError as exc:
        print(f"atr-bench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("atr-bench: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
