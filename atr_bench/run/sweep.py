"""Sweeps: the cross product of components, one protocol run per configuration and seed.

Runs whose record exists are skipped, a failed run does not stop the others, and runs can go
to several worker processes. Features and text caches are prepared in the parent first, so
workers only read them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import itertools
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import torch
from tqdm import tqdm

from atr_bench.errors import AtrBenchError
from atr_bench.plugins.registry import registry
from atr_bench.record.results import execution, read_done, record_path
from atr_bench.run import execute
from atr_bench.run.config import RunConfig
from atr_bench.run.plan import Plan, plan


@dataclass(frozen=True)
class Failure:
    """A run (or a whole configuration, when ``seed`` is None) that did not finish."""

    label: str
    seed: int | None
    reason: str


@dataclass(frozen=True)
class SweepReport:
    """What a sweep did: records written, runs skipped because they were done, failures."""

    written: tuple[Path, ...]
    skipped: tuple[Path, ...]
    failures: tuple[Failure, ...]

    def summary(self) -> str:
        lines = [
            f"{len(self.written)} runs done, {len(self.skipped)} already done (skipped), "
            f"{len(self.failures)} failed"
        ]
        for f in self.failures:
            seed = "" if f.seed is None else f" seed {f.seed}"
            lines.append(f"  FAILED {f.label}{seed}: {f.reason}")
        return "\n".join(lines)


def expand(base: RunConfig, grid: Mapping[str, Sequence[str]]) -> list[RunConfig]:
    """Every combination of the values in ``grid`` (field name -> values) applied to ``base``."""
    fields = list(grid)
    return [
        dataclasses.replace(base, **dict(zip(fields, values, strict=True)))
        for values in itertools.product(*(grid[f] for f in fields))
    ]


PR_SET_PDEATHSIG = 1
"""Linux prctl(2): the signal a process gets when its parent dies."""


def die_with_parent(parent: int) -> None:
    """In a worker: be killed when the sweep that started it dies, even by SIGKILL (which
    it cannot catch), instead of living on as an orphan blocked on its pipe. Linux only;
    elsewhere a no-op."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the sweep died before prctl took effect
        os._exit(1)


@dataclass(frozen=True)
class _Job:
    config: RunConfig
    seed: int
    label: str


def _run_in_worker(
    job: _Job,
    device: str,
    runs_dir: Path,
    data_root: Path,
    threads: int,
    stream: str,
    log_to: str,
) -> tuple[_Job, Path | None, str | None]:
    """One (configuration, seed) in a worker process; errors come back as text."""
    torch.set_num_threads(threads)
    try:
        the_plan = plan(job.config, registry(), data_root)
        dev = execute.resolve_device(device)
        started = time.perf_counter()
        splits = execute.load_data(the_plan, dev, progress=False, stream=stream)
        load_seconds = time.perf_counter() - started
        record = execute.run_seed(
            the_plan, splits, job.seed, dev, runs_dir, load_seconds, False, log_to
        )
        return job, record_path(runs_dir, record["run_id"]), None
    except Exception as exc:  # a sweep reports every failure and goes on with the others
        return job, None, f"{type(exc).__name__}: {exc}"


def sweep(
    configs: Sequence[RunConfig],
    seeds: Sequence[int],
    device: str,
    runs_dir: Path,
    data_root: Path,
    jobs: int = 1,
    threads: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    stream: str = "auto",
    log_to: str = "tensorboard",
) -> SweepReport:
    """Run every configuration for every seed, skipping runs whose record already exists;
    each run's curves go where ``log_to`` says."""
    written: list[Path] = []
    skipped: list[Path] = []
    failures: list[Failure] = []
    pending: list[tuple[Plan, list[int]]] = []
    dev = execute.resolve_device(device)
    if jobs > 1:
        threads = threads or max(1, (os.cpu_count() or 1) // jobs)
    expected = execution(dev, threads)
    for config in configs:
        label = f"{config.dataset}/{config.extractor}/{config.pooling} ({config.protocol})"
        try:
            the_plan = plan(config, registry(), data_root)
        except AtrBenchError as exc:
            failures.append(Failure(label, None, str(exc)))
            continue
        todo = []
        for seed in seeds:
            path = record_path(runs_dir, the_plan.run_id(seed))
            if not path.exists():
                todo.append(seed)
                continue
            try:
                read_done(path, expected)
                skipped.append(path)
            except AtrBenchError as exc:
                failures.append(Failure(the_plan.label, seed, str(exc)))
        if todo:
            pending.append((the_plan, todo))
    total = sum(len(todo) for _, todo in pending)
    bar = tqdm(total=total, desc="sweep", unit="run", disable=not progress)
    if jobs <= 1:
        for the_plan, todo in pending:
            _run_plan_here(
                the_plan, todo, dev, runs_dir, bar, written, failures, progress, stream, log_to
            )
    else:
        _run_in_pool(
            pending,
            device,
            runs_dir,
            data_root,
            jobs,
            threads,
            bar,
            written,
            failures,
            stream,
            log_to,
        )
    bar.close()
    return SweepReport(tuple(written), tuple(skipped), tuple(failures))


def _run_plan_here(
    the_plan: Plan,
    seeds: Sequence[int],
    device: torch.device,
    runs_dir: Path,
    bar: tqdm,
    written: list[Path],
    failures: list[Failure],
    progress: bool,
    stream: str,
    log_to: str,
) -> None:
    """All seeds of one configuration in this process, loading its data once."""
    try:
        started = time.perf_counter()
        splits = execute.load_data(the_plan, device, progress, stream)
        load_seconds = time.perf_counter() - started
    except Exception as exc:  # reported, the sweep goes on
        failures.append(Failure(the_plan.label, None, f"{type(exc).__name__}: {exc}"))
        bar.update(len(seeds))
        return
    for seed in seeds:
        try:
            record = execute.run_seed(
                the_plan, splits, seed, device, runs_dir, load_seconds, progress, log_to
            )
            written.append(record_path(runs_dir, record["run_id"]))
        except Exception as exc:  # reported, the sweep goes on
            failures.append(Failure(the_plan.label, seed, f"{type(exc).__name__}: {exc}"))
        bar.update(1)


def _run_in_pool(
    pending: Sequence[tuple[Plan, list[int]]],
    device_name: str,
    runs_dir: Path,
    data_root: Path,
    jobs: int,
    threads: int,
    bar: tqdm,
    written: list[Path],
    failures: list[Failure],
    stream: str,
    log_to: str,
) -> None:
    """Prepare each configuration's data here, then one worker task per (config, seed)."""
    ready: list[_Job] = []
    for the_plan, todo in pending:
        try:
            execute.load_data(the_plan, torch.device("cpu"), not bar.disable, stream)
        except Exception as exc:  # reported, the sweep goes on
            failures.append(Failure(the_plan.label, None, f"{type(exc).__name__}: {exc}"))
            bar.update(len(todo))
            continue
        ready += [_Job(the_plan.config, seed, the_plan.label) for seed in todo]
    context = get_context("spawn")
    with ProcessPoolExecutor(
        jobs, mp_context=context, initializer=die_with_parent, initargs=(os.getpid(),)
    ) as pool:
        futures = {
            pool.submit(
                _run_in_worker, job, device_name, runs_dir, data_root, threads, stream, log_to
            )
            for job in ready
        }
        try:
            while futures:
                done, futures = wait(futures, return_when=FIRST_COMPLETED)
                for future in done:
                    job, path, error = future.result()
                    if error is None:
                        written.append(path)
                    else:
                        failures.append(Failure(job.label, job.seed, error))
                    bar.update(1)
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
