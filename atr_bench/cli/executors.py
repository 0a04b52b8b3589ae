"""``atr-bench sweep``'s flags for where the runs go (``--executor local|slurm|ray``), their
claims, and ``--status``."""

from __future__ import annotations

import argparse
import math

from atr_bench.cli.options import path_arg
from atr_bench.errors import AtrBenchError
from atr_bench.record.claims import CLAIM_TTL, check_ttl
from atr_bench.run.executors import EXECUTORS, Executor


def _sbatch_flag(text: str) -> tuple[str, str | bool]:
    key, eq, value = text.partition("=")
    key = key.strip().removeprefix("--")
    if not key:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE or NAME, e.g. qos=high")
    return key, value if eq else True


def add_executor_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="local",
        help="where the runs go: this machine (--jobs processes), a Slurm job array, or a Ray "
        "cluster (default: local); every executor writes the same records to --runs-dir, "
        "which must be a folder all workers share",
    )
    p.add_argument(
        "--status",
        action="store_true",
        help="run nothing: how many runs of this grid are done, claimed/running, failed "
        "(with why) and not started, for any executor",
    )
    p.add_argument(
        "--claim-ttl",
        type=float,
        default=CLAIM_TTL,
        metavar="SECONDS",
        help="a run's claim whose worker sent no heartbeat for this long is taken over "
        f"(default: {CLAIM_TTL:.0f})",
    )
    s = p.add_argument_group("--executor slurm (through submitit; one job array per sweep)")
    s.add_argument("--slurm-partition", default=None, help="default: the cluster's")
    s.add_argument("--slurm-gpus-per-task", type=int, default=0, help="default: 0")
    s.add_argument("--slurm-cpus-per-task", type=int, default=1, help="default: 1")
    s.add_argument("--slurm-mem", default=None, help="memory per task, e.g. 16G")
    s.add_argument("--slurm-time", type=int, default=60, help="minutes per task (default: 60)")
    s.add_argument(
        "--slurm-array-parallelism", type=int, default=64, help="tasks at once (default: 64)"
    )
    s.add_argument(
        "--slurm-sbatch",
        type=_sbatch_flag,
        action="append",
        default=[],
        metavar="NAME[=VALUE]",
        help="an extra sbatch flag, e.g. qos=high or account=lab (repeatable)",
    )
    s.add_argument(
        "--slurm-logs", type=path_arg, default=None, help="log folder (default: <runs-dir>/slurm)"
    )
    r = p.add_argument_group("--executor ray")
    r.add_argument(
        "--ray-address", default=None, help="a running cluster (default: start a local one)"
    )
    r.add_argument("--ray-cpus", type=float, default=1.0, help="CPUs per run (default: 1)")
    r.add_argument("--ray-gpus", type=float, default=0.0, help="GPUs per run (default: 0)")
    r.add_argument(
        "--ray-local-cpus", type=int, default=None, help="CPUs of a local cluster (default: all)"
    )


def _at_least(value: float, low: float, flag: str) -> None:
    if not value >= low:
        raise AtrBenchError(f"{flag} {value}: must be at least {low:g}")


def executor_from_args(args: argparse.Namespace) -> tuple[Executor | None, int | None]:
    """The executor the flags ask for (None: this process, or --jobs workers) and the CPU
    threads per run (a remote run's default: the CPUs it asks for, so its record's execution
    is known here)."""
    check_ttl(args.claim_ttl)
    if args.executor == "slurm":
        from atr_bench.run.executors.slurm import SlurmArray, SlurmOptions

        for flag in ("gpus_per_task", "cpus_per_task", "time", "array_parallelism"):
            low = 0 if flag == "gpus_per_task" else 1
            _at_least(getattr(args, f"slurm_{flag}"), low, f"--slurm-{flag.replace('_', '-')}")
        options = SlurmOptions(
            log_folder=args.slurm_logs or args.runs_dir / "slurm",
            partition=args.slurm_partition,
            gpus_per_task=args.slurm_gpus_per_task,
            cpus_per_task=args.slurm_cpus_per_task,
            mem=args.slurm_mem,
            time_min=args.slurm_time,
            array_parallelism=args.slurm_array_parallelism,
            sbatch=tuple(args.slurm_sbatch),
        )
        return SlurmArray(options), args.threads or args.slurm_cpus_per_task
    if args.executor == "ray":
        from atr_bench.run.executors.ray import RayCluster, check_address

        _at_least(args.ray_cpus, 0.01, "--ray-cpus")
        _at_least(args.ray_gpus, 0, "--ray-gpus")
        if args.ray_local_cpus is not None:
            _at_least(args.ray_local_cpus, 1, "--ray-local-cpus")
        if args.ray_address:
            check_address(args.ray_address)
        cluster = RayCluster(args.ray_address, args.ray_cpus, args.ray_gpus, args.ray_local_cpus)
        return cluster, args.threads or max(1, math.ceil(args.ray_cpus))
    return None, args.threads
