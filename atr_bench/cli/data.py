"""``atr-bench data prepare|export|shaped|check``: Index files from official captions, a dataset
written as the paper's released code reads it, data of the real shapes, and what is wrong with
a dataset's splits."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from atr_bench.cli.options import (
    add_component,
    add_data_root,
    data_root,
    dataset_and_extractor,
    path_arg,
    writable_dir,
)
from atr_bench.plugins.registry import registry
from atr_bench.plugins.specs import parse_option_strings

PREPARERS = ("audiocaps", "clotho")


def add_data_parser(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="dataset preparation")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    for add in (_add_prepare, _add_export, _add_shaped, _add_check):
        add(data_sub)


def _add_prepare(data_sub: argparse._SubParsersAction) -> None:
    p = data_sub.add_parser(
        "prepare", help="write a dataset's Index files from its official caption files"
    )
    p.add_argument("dataset", choices=PREPARERS)
    p.add_argument(
        "--captions-dir",
        type=path_arg,
        required=True,
        help="folder with the official caption CSVs (Clotho: clotho_captions_*.csv; "
        "AudioCaps: train.csv, val.csv, test.csv)",
    )
    add_data_root(p)
    p.set_defaults(func=cmd_data_prepare)


def _add_export(data_sub: argparse._SubParsersAction) -> None:
    p = data_sub.add_parser(
        "export",
        help="write a dataset as the paper's released code reads it (Index, one extractor's "
        "features, text features as TextEmbeddings/w2v_<split>.pkl)",
    )
    add_component(p, "dataset", "synthcaps", "dataset plugin (default: synthcaps)")
    add_component(p, "extractor", "lms", "audio extractor whose features to export")
    add_component(p, "text-encoder", None, "text encoder (default: the dataset's)")
    p.add_argument("--out", type=path_arg, required=True, help="the data root to write")
    p.add_argument("--format", choices=("seed",), default="seed", help="only 'seed' so far")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the export's files where --out already has them (default: refuse)",
    )
    add_data_root(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_data_export)


def _add_shaped(data_sub: argparse._SubParsersAction) -> None:
    p = data_sub.add_parser(
        "shaped",
        help="write AudioCaps- or Clotho-shaped data of random values in the seed layout, to "
        "measure time and memory before having the data (its retrieval scores mean nothing)",
        description="Writes Index files, one extractor's feature dumps at the dataset's frame "
        "count and the extractor's width, and TextEmbeddings/w2v_<split>.pkl, at the real split "
        "sizes (AudioCaps: 49,838/495/975 clips; Clotho: 3,839/1,045/1,045) or a fraction. The "
        "values are random: only the time and memory of a run on them mean anything, and its "
        "runs are recorded as untrained (off the boards).",
    )
    p.add_argument("dataset", choices=("audiocaps", "clotho"), help="whose shape to write")
    p.add_argument("--extractor", default="panns_cnn14", help="whose frames and width")
    p.add_argument("--out", type=path_arg, required=True, help="the data root to write into")
    p.add_argument(
        "--fraction", type=float, default=1.0, help="of every split's real size (default 1)"
    )
    p.add_argument("--train-clips", type=int, default=None, help="training clips, exactly")
    p.add_argument("--seed", type=int, default=0, help="of the random values")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_data_shaped)


def _add_check(data_sub: argparse._SubParsersAction) -> None:
    p = data_sub.add_parser(
        "check",
        help="per split: canonical version and coverage, clips shared by id or identical "
        "features, shared and empty captions, constant or non-finite features",
        description="Exits with status 1 when it finds a problem: clips in more than one split "
        "(by id or by identical features), empty captions, clips without features or with "
        "constant or non-finite ones. Coverage and captions recurring across splits are "
        "reported only.",
    )
    add_component(p, "dataset", "synthcaps", "dataset plugin (default: synthcaps)")
    p.add_argument(
        "--extractor",
        default=None,
        help="whose feature files to check (default: every extractor with files under "
        "<dataset>/AudioExpert/)",
    )
    add_data_root(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_data_check)


def cmd_data_prepare(args: argparse.Namespace) -> int:
    from atr_bench.data.prepare import prepare_audiocaps, prepare_clotho

    prepare = prepare_clotho if args.dataset == "clotho" else prepare_audiocaps
    dataset = registry().get("dataset", args.dataset).create(data_root(args.data_root))
    print(prepare(args.captions_dir, dataset.layout).summary())
    return 0


def cmd_data_export(args: argparse.Namespace) -> int:
    from atr_bench.data.export import check_export_target, export_seed_layout
    from atr_bench.data.layout import SPLITS
    from atr_bench.data.loading import text_features

    dataset, extractor, options = dataset_and_extractor(args)
    check_export_target(dataset, extractor.name, args.out, args.overwrite)
    dataset.ensure_audio_features(extractor, {"device": "cpu", **options}, not args.no_progress)
    encoder = registry().get("text_encoder", args.text_encoder or dataset.defaults.text_encoder)
    flag = "--text-encoder-opt"
    encoder_opts = encoder.resolve_options(
        parse_option_strings(args.text_encoder_opt, flag), flag=flag
    )
    clips = {split: dataset.clips(split) for split in SPLITS}
    text = text_features(dataset, encoder, encoder_opts, clips)
    report = export_seed_layout(dataset, extractor.name, text, args.out, args.overwrite)
    print(report.summary())
    return 0


def cmd_data_shaped(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from atr_bench.components.datasets.indexed import AUDIOCAPS_DEFAULTS, CLOTHO_DEFAULTS
    from atr_bench.components.protocols import PAPER_FRAMES
    from atr_bench.data.shaped import SHAPES, split_sizes, write_shaped

    extractor = registry().get("extractor", args.extractor)
    defaults = AUDIOCAPS_DEFAULTS if args.dataset == "audiocaps" else CLOTHO_DEFAULTS
    shape = SHAPES[args.dataset]
    sizes = split_sizes(shape, args.fraction, args.train_clips)
    paper = PAPER_FRAMES[args.dataset].get(extractor.name)  # the seed's real shapes
    frames = paper or defaults.frames_for(extractor)
    bars: list[tqdm] = []

    def progress(total: int, split: str) -> Callable[[int], object]:
        bar = tqdm(total=total, desc=f"{shape.directory}/{split}", unit="clip")
        bars.append(bar)

        def tick(n: int) -> None:
            bar.update(n)
            if bar.n >= total:
                bar.close()

        return tick

    try:
        report = write_shaped(
            shape,
            writable_dir(args.out, "--out"),
            extractor.name,
            frames,
            extractor.dim,
            sizes,
            args.seed,
            None if args.no_progress else progress,
        )
    finally:
        for bar in bars:
            bar.close()
    print(report.summary())
    return 0


def cmd_data_check(args: argparse.Namespace) -> int:
    from collections.abc import Iterable

    from tqdm import tqdm

    from atr_bench.data.canonical import packaged_facts
    from atr_bench.data.check import check_dataset, no_progress

    spec = registry().get("dataset", args.dataset)
    options = spec.resolve_options(
        parse_option_strings(args.dataset_opt, "--dataset-opt"), flag="--dataset-opt"
    )
    dataset = spec.create(data_root(args.data_root), **options)
    experts = dataset.layout.path / "AudioExpert"
    if args.extractor:
        extractors = [registry().get("extractor", args.extractor).name]
    else:
        extractors = sorted(p.name for p in experts.glob("*") if p.is_dir())

    def bar(ids: Iterable[str], total: int, label: str) -> Iterable[str]:
        return tqdm(ids, total=total, desc=label, unit="clip", leave=False)

    progress = no_progress if args.no_progress else bar
    report = check_dataset(dataset, extractors, packaged_facts(), progress)
    print("\n".join(report.lines()))
    return 1 if report.problems else 0
