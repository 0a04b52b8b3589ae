"""``atr-bench data prepare|export``: Index files from official captions, or a dataset written
as the paper's released code reads it."""

from __future__ import annotations

import argparse
from pathlib import Path

from atr_bench.cli.options import add_component, add_data_root, data_root, dataset_and_extractor
from atr_bench.plugins.registry import registry
from atr_bench.plugins.specs import parse_option_strings

PREPARERS = ("audiocaps", "clotho")


def add_data_parser(sub: argparse._SubParsersAction) -> None:
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
    add_data_root(p)
    p.set_defaults(func=cmd_data_prepare)
    p = data_sub.add_parser(
        "export",
        help="write a dataset as the paper's released code reads it (Index, one extractor's "
        "features, text features as TextEmbeddings/w2v_<split>.pkl)",
    )
    add_component(p, "dataset", "synthcaps", "dataset plugin (default: synthcaps)")
    add_component(p, "extractor", "lms", "audio extractor whose features to export")
    add_component(p, "text-encoder", None, "text encoder (default: the dataset's)")
    p.add_argument("--out", type=Path, required=True, help="the data root to write")
    p.add_argument("--format", choices=("seed",), default="seed", help="only 'seed' so far")
    add_data_root(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_data_export)


def cmd_data_prepare(args: argparse.Namespace) -> int:
    from atr_bench.data.prepare import prepare_audiocaps, prepare_clotho

    prepare = prepare_clotho if args.dataset == "clotho" else prepare_audiocaps
    dataset = registry().get("dataset", args.dataset).create(data_root(args.data_root))
    print(prepare(args.captions_dir, dataset.layout).summary())
    return 0


def cmd_data_export(args: argparse.Namespace) -> int:
    from atr_bench.data.export import export_seed_layout
    from atr_bench.data.layout import SPLITS
    from atr_bench.run.loading import text_features

    dataset, extractor, options = dataset_and_extractor(args)
    dataset.ensure_audio_features(extractor, {"device": "cpu", **options}, not args.no_progress)
    encoder = registry().get("text_encoder", args.text_encoder or dataset.defaults.text_encoder)
    flag = "--text-encoder-opt"
    encoder_opts = encoder.resolve_options(
        parse_option_strings(args.text_encoder_opt, flag), flag=flag
    )
    clips = {split: dataset.clips(split) for split in SPLITS}
    text = text_features(dataset, encoder, encoder_opts, clips)
    print(export_seed_layout(dataset, extractor.name, text, args.out).summary())
    return 0
