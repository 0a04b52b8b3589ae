"""``atr-bench run`` and ``atr-bench sweep``: one configuration, or the grid of the components
given, under a protocol."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atr_bench.cli.executors import add_executor_arguments, executor_from_args
from atr_bench.cli.options import (
    MAX_THREADS,
    add_component,
    add_data_root,
    data_root,
    path_arg,
    positive,
    seed_list,
    set_threads,
    writable_dir,
)
from atr_bench.data.stream_modes import STREAM_MODES
from atr_bench.errors import AtrBenchError
from atr_bench.plugins.protocol_settings import SETTINGS, check_settings
from atr_bench.plugins.registry import registry
from atr_bench.plugins.specs import parse_option_strings
from atr_bench.run.config import RunRequest
from atr_bench.run.curves_log import LOG_TO, require

if TYPE_CHECKING:
    import torch

    from atr_bench.record.run_record import RunRecord
    from atr_bench.run.context import RunContext


def _add_protocol_arguments(p: argparse.ArgumentParser, many: bool) -> None:
    """The arguments ``run`` and ``sweep`` share; with ``many``, components take lists."""
    defaults = RunRequest()
    lst = " (comma-separated list)" if many else ""
    add_component(p, "dataset", defaults.dataset, f"dataset plugin{lst} (default: synthcaps)")
    add_component(p, "extractor", defaults.extractor, f"audio extractor{lst} (default: lms)")
    add_component(p, "pooling", defaults.pooling, f"audio pooling{lst} (default: netrvlad)")
    add_component(p, "text-pooling", None, "text pooling (default: same as --pooling)")
    add_component(p, "text-encoder", None, f"text encoder{lst} (default: the dataset's)")
    p.add_argument("--weights", default=None, help="extractor weights: a checkpoint or 'random'")
    p.add_argument(
        "--seeds", type=seed_list, default=[0], help="comma-separated seeds (default: 0)"
    )
    p.add_argument(
        "--protocol",
        default=defaults.protocol,
        help=f"the named protocol{lst} (default: {defaults.protocol}; see `atr-bench list`); "
        "the flags below override single settings of it",
    )
    for option in SETTINGS.values():  # the protocol settings' flags, from their description
        if option.type in (int, float):
            p.add_argument(
                "--" + option.name.replace("_", "-"),
                type=option.type,
                default=None,
                help=f"{option.help}, {option.bounds()} (default: the protocol's)",
            )
    p.add_argument(
        "--loss",
        default=None,
        help="a registered loss, e.g. max_margin or infonce (default: "
        "the protocol's; see `atr-bench list`)",
    )
    p.add_argument(
        "--gate-batch-norm",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="BatchNorm in the gated embedding units' context gating (default: the protocol's)",
    )
    _add_execution_arguments(p)


def _add_execution_arguments(p: argparse.ArgumentParser) -> None:
    """How and where runs execute: none of it is part of the protocol."""
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    p.add_argument("--no-amp", action="store_true", help="no bf16 mixed precision on CUDA")
    p.add_argument(
        "--stream-features",
        choices=STREAM_MODES,
        default="auto",
        help="read audio features from disk a batch at a time instead of loading them whole "
        "(default auto: on the CPU when they are over 1 GiB padded, on a GPU when they would "
        "take over half of this machine's memory); same numbers",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads per run (default: torch's, one per core; a sweep with --jobs N "
        "splits the cores). Idle threads sleep rather than spin (OMP_WAIT_POLICY=PASSIVE "
        "unless set), so a CPU other jobs share does not stall them",
    )
    add_data_root(p)
    p.add_argument("--runs-dir", type=path_arg, default=Path("runs"))
    p.add_argument(
        "--log-to",
        choices=LOG_TO,
        default="tensorboard",
        help="training curves (loss, validation metrics per epoch): TensorBoard event files in "
        "<runs-dir>/tb/<run id>/ (default), the MLflow file store <runs-dir>/mlflow/ (needs "
        "atr-bench[mlflow]), or none",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument(
        "--allow-overlap",
        action="store_true",
        help="run even when the test split shares clips with the train split (the record "
        "says how many)",
    )
    p.add_argument(
        "--allow-unsound",
        action="store_true",
        help="train poolings that fail the soundness checks run before training (masking, "
        "finite output, shape, determinism); their records and board rows are marked",
    )


def add_run_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="train and test one configuration under the protocol")
    _add_protocol_arguments(p, many=False)
    p.add_argument("--force", action="store_true", help="redo seeds whose record already exists")
    p.set_defaults(func=cmd_run)


def add_sweep_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="every combination of the components given, every seed")
    _add_protocol_arguments(p, many=True)
    p.add_argument("--jobs", type=int, default=1, help="parallel worker processes (default: 1)")
    add_executor_arguments(p)
    p.set_defaults(func=cmd_sweep)


def config_from_args(args: argparse.Namespace) -> RunRequest:
    check_settings(
        vars(args),
        lambda name, value, problem: f"--{name.replace('_', '-')} {value}: {problem}",
    )

    given = vars(args)
    fields: dict[str, Any] = {}
    for field in dataclasses.fields(RunRequest):
        if field.name.endswith("_options"):  # args.pooling_opt (--pooling-opt) -> pooling_options
            dest = field.name.replace("_options", "_opt")
            flag = "--" + dest.replace("_", "-")
            fields[field.name] = tuple(parse_option_strings(given[dest], flag).items())
        elif field.name in given:  # every other field has the flag of its own name
            fields[field.name] = given[field.name]
    return RunRequest(**fields, amp=not args.no_amp)


def on_device(config: RunRequest, device: torch.device) -> RunRequest:
    """``config`` with what does nothing on ``device`` at its default, so it names the same
    run: mixed precision is CUDA's alone (``--no-amp`` on the CPU changes no number)."""
    return config if device.type == "cuda" else dataclasses.replace(config, amp=True)


def run_context(args: argparse.Namespace, resolve_device: bool = True) -> RunContext:
    """The context ``run`` and ``sweep`` give their runs, from the flags (the thread count and
    the device checked here, the folders by ``_check_folders``). Without ``resolve_device``
    (remote workers resolve ``--device`` on their own hardware) this process works on CPU."""
    import torch

    from atr_bench.run.context import RunContext
    from atr_bench.run.execute import resolve_device as resolve

    set_threads(args.threads)
    require(args.log_to)
    device = resolve(args.device) if resolve_device else torch.device("cpu")
    root = data_root(args.data_root)
    return RunContext(
        device=device,
        runs_dir=args.runs_dir,
        data_root=root,
        progress=not args.no_progress,
        threads=args.threads,
        stream=args.stream_features,
        log_to=args.log_to,
        allow_overlap=args.allow_overlap,
        allow_unsound=args.allow_unsound,
    )


def _check_folders(context: RunContext) -> None:
    """Both folders writable (or creatable) before any work, so no run fails after training."""
    writable_dir(context.runs_dir, "--runs-dir")
    writable_dir(context.data_root, "--data-root")


def cmd_run(args: argparse.Namespace) -> int:
    from atr_bench.report.run_table import metrics_table
    from atr_bench.run import execute
    from atr_bench.run.plan import plan

    context = run_context(args)
    config = on_device(config_from_args(args), context.device)
    if registry().get("protocol", config.protocol).zero_shot:
        return _zero_shot(config, context, args)
    the_plan = plan(config, registry(), context.data_root)
    _check_folders(context)
    execute.sound_or_allowed(the_plan, context)
    started = time.perf_counter()
    splits = execute.load_data(the_plan, context)
    load_seconds = time.perf_counter() - started
    records = _each_seed(
        args,
        context,
        the_plan.run_id,
        lambda seed: execute.run_seed(the_plan, splits, seed, load_seconds, context),
    )
    if not records:
        return 0
    seeds = ",".join(str(r.seed) for r in records)
    device = context.device
    print(f"\n{the_plan.label}  test metrics (%, ranks 1-based), seeds {seeds}, {device}\n")
    print(metrics_table(records))
    if any(r.untrained for r in records):
        print(
            "untrained: these features come from random weights (--weights random, or data "
            "marked so), so the numbers mean nothing and no leaderboard takes them"
        )
    return 0


def _zero_shot(config: RunRequest, context: RunContext, args: argparse.Namespace) -> int:
    """``run`` under a zero-shot protocol: embed every split once, test each seed's record."""
    from atr_bench.report.run_table import metrics_table
    from atr_bench.run.zeroshot import load_embeddings, plan_zero_shot, run_zero_shot

    if len(args.seeds) > 1:
        raise AtrBenchError(
            f"protocol {config.protocol!r} trains nothing, so seeds change nothing: give one "
            "seed (--seeds 0), not several copies of one result"
        )
    the_plan = plan_zero_shot(config, registry(), context.data_root)
    _check_folders(context)
    started = time.perf_counter()
    splits = load_embeddings(the_plan, context)
    load_seconds = time.perf_counter() - started
    records = _each_seed(
        args,
        context,
        the_plan.run_id,
        lambda seed: run_zero_shot(the_plan, splits, seed, load_seconds, context),
    )
    print(f"\n{the_plan.label}  zero-shot test metrics (%, ranks 1-based), {context.device}\n")
    print(metrics_table(records))
    return 0


def _each_seed(
    args: argparse.Namespace,
    context: RunContext,
    run_id: Callable[[int], str],
    make: Callable[[int], RunRecord],
) -> list[RunRecord]:
    """Each seed's record, through the path a sweep's workers take (``task.run_claimed``):
    read back when it exists (unless ``--force``), left to the process making it now, else
    made under the run's claim (a failure is marked, then shown)."""
    from atr_bench.record.results import execution, read_done, record_path
    from atr_bench.run.task import BUSY, SKIPPED, run_claimed

    expected = execution(context.device)
    records = []
    for seed in args.seeds:
        path = record_path(context.runs_dir, run_id(seed))
        made: list[RunRecord] = []

        def work(seed: int = seed, made: list[RunRecord] = made) -> None:
            made.append(make(seed))

        status, detail = run_claimed(
            context.runs_dir, run_id(seed), expected, work, force=args.force, keep_going=False
        )
        if status == BUSY:
            print(f"seed {seed}: being trained now by {detail}; skipped", file=sys.stderr)
        elif status == SKIPPED:
            records.append(read_done(path, expected))
            print(f"seed {seed}: already done, {path} (--force redoes it)", file=sys.stderr)
        else:
            records.append(made[0])
            print(f"wrote {path}", file=sys.stderr)
    return records


SWEPT = ("dataset", "extractor", "pooling", "text_encoder", "protocol")
"""Components a sweep crosses; each takes a comma-separated list."""


def cmd_sweep(args: argparse.Namespace) -> int:
    from atr_bench.report.sweep_board import sweep_board
    from atr_bench.run.status import format_status, grid_status
    from atr_bench.run.sweep import expand, sweep

    positive(args, "jobs", most=MAX_THREADS)
    executor, args.threads = executor_from_args(args)
    remote = executor is not None and executor.remote
    context = run_context(args, resolve_device=not remote)
    _check_folders(context)
    grid = {}
    for name in SWEPT:
        given = getattr(args, name)
        values = [v.strip() for v in given.split(",") if v.strip()] if given else []
        setattr(args, name, values[0] if values else None)
        if values:
            grid[name] = values
    base = config_from_args(args)
    if not remote:  # remote workers' devices are theirs: what they do there, the hash says
        base = on_device(base, context.device)
    configs = expand(base, grid)
    if args.status:
        states = grid_status(configs, args.seeds, context.runs_dir, context.data_root)
        print(format_status(states))
        return 0
    report = sweep(
        configs,
        args.seeds,
        context,
        jobs=args.jobs,
        executor=executor,
        claim_ttl=args.claim_ttl,
        worker_device=args.device if remote else None,
    )
    print(report.summary())
    board = sweep_board([*report.written, *report.skipped], context.runs_dir)
    if board:
        print(board)
    return 1 if report.failures else 0
