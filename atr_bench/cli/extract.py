"""``atr-bench extract``: a folder of audio files -> a dataset's feature files."""

from __future__ import annotations

import argparse

from atr_bench.cli.options import (
    add_component,
    add_data_root,
    dataset_and_extractor,
    path_arg,
    positive,
)
from atr_bench.errors import AtrBenchError


def add_extract_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "extract", help="turn a folder of audio files into a dataset's feature files"
    )
    add_component(p, "dataset", None, "dataset whose Index lists the clips (e.g. clotho)")
    add_component(p, "extractor", None, "audio extractor (see `atr-bench list`)")
    p.add_argument("--audio-dir", type=path_arg, required=True, help="folder of wav/flac/ogg files")
    p.add_argument("--weights", default=None, help="the extractor's checkpoint, or 'random'")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    p.add_argument("--batch-size", type=int, default=16, help="clips per forward pass")
    add_data_root(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_extract)


def cmd_extract(args: argparse.Namespace) -> int:
    """Exit 0 when every clip is stored, 1 when some files were missing or unreadable."""
    from atr_bench.data.extraction.extract_folder import extract_folder
    from atr_bench.run.execute import resolve_device

    for flag in ("dataset", "extractor"):
        if not getattr(args, flag):
            raise AtrBenchError(f"atr-bench extract needs --{flag}; see `atr-bench list`")
    positive(args, "batch_size")
    dataset, extractor, options = dataset_and_extractor(args)
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
