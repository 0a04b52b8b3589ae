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
import logging
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from atr_bench import logs
from atr_bench.errors import AtrBenchError
from atr_bench.plugins.registry import registry
from atr_bench.record.results import execution, read_done, record_path
from atr_bench.run import execute
from atr_bench.run.config import RunRequest
from atr_bench.run.context import RunContext
from atr_bench.run.plan import Plan, plan

_log = logging.getLogger(__name__)


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


def expand(base: RunRequest, grid: Mapping[str, Sequence[str]]) -> list[RunRequest]:
    """Every combination of the values in ``grid`` (field name -> values) applied to ``base``."""
    fields = list(grid)
    changes: list[dict[str, Any]] = [
        dict(zip(fields, values, strict=True))
        for values in itertools.product(*(grid[f] for f in fields))
    ]
    return [dataclasses.replace(base, **c) for c in changes]


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


def _start_worker(parent: int, log_level: int) -> None:
    """A worker process's start: it dies with the sweep and shows messages as the sweep does."""
    die_with_parent(parent)
    logs.to_stderr(log_level)


@dataclass(frozen=True)
class _Job:
    config: RunRequest
    seed: int
    label: str


Outcome = Path | Failure
"""What became of a run: its record, or why it has none."""


def _failed(label: str, seed: int | None, exc: Exception) -> Failure:
    """A run's failure, reported on one line; with ``--debug`` its traceback is logged too."""
    _log.debug("%s%s failed", label, "" if seed is None else f" seed {seed}", exc_info=exc)
    return Failure(label, seed, f"{type(exc).__name__}: {exc}")


def _run_in_worker(job: _Job, context: RunContext) -> Outcome:
    """One (configuration, seed) in a worker process; an error comes back as a ``Failure``."""
    if context.threads is not None:
        torch.set_num_threads(context.threads)
    try:
        the_plan = plan(job.config, registry(), context.data_root)
        started = time.perf_counter()
        splits = execute.load_data(the_plan, context)
        load_seconds = time.perf_counter() - started
        execute.run_seed(the_plan, splits, job.seed, load_seconds, context)
        return record_path(context.runs_dir, the_plan.run_id(job.seed))
    except Exception as exc:  # a sweep reports every failure and goes on with the others
        return _failed(job.label, job.seed, exc)


def sweep(
    configs: Sequence[RunRequest], seeds: Sequence[int], context: RunContext, jobs: int = 1
) -> SweepReport:
    """Run every configuration for every seed, skipping runs whose record already exists;
    ``jobs`` worker processes share the cores unless ``context.threads`` says otherwise."""
    if jobs > 1:
        threads = context.threads or max(1, (os.cpu_count() or 1) // jobs)
        context = dataclasses.replace(context, threads=threads)
    pending, skipped, failures = _triage(configs, seeds, context)
    total = sum(len(todo) for _, todo in pending)
    bar = tqdm(total=total, desc="sweep", unit="run", disable=not context.progress)
    if jobs <= 1:
        outcomes = [o for plan_, todo in pending for o in _run_here(plan_, todo, context, bar)]
    else:
        outcomes = _run_in_pool(pending, context, jobs, bar)
    bar.close()
    written = tuple(o for o in outcomes if isinstance(o, Path))
    failures += [o for o in outcomes if isinstance(o, Failure)]
    return SweepReport(written, tuple(skipped), tuple(failures))


def _triage(
    configs: Sequence[RunRequest], seeds: Sequence[int], context: RunContext
) -> tuple[list[tuple[Plan, list[int]]], list[Path], list[Failure]]:
    """The seeds still to run of each configuration, the records already done (under this
    execution), and the configurations or records that cannot be used."""
    pending: list[tuple[Plan, list[int]]] = []
    skipped: list[Path] = []
    failures: list[Failure] = []
    expected = execution(context.device, context.threads)
    for config in configs:
        label = f"{config.dataset}/{config.extractor}/{config.pooling} ({config.protocol})"
        try:
            the_plan = plan(config, registry(), context.data_root)
        except AtrBenchError as exc:
            failures.append(_failed(label, None, exc))
            continue
        todo = []
        for seed in seeds:
            path = record_path(context.runs_dir, the_plan.run_id(seed))
            if not path.exists():
                todo.append(seed)
                continue
            try:
                read_done(path, expected)
                skipped.append(path)
            except AtrBenchError as exc:
                failures.append(_failed(the_plan.label, seed, exc))
        if todo:
            pending.append((the_plan, todo))
    return pending, skipped, failures


def _run_here(
    the_plan: Plan, seeds: Sequence[int], context: RunContext, bar: tqdm
) -> list[Outcome]:
    """All seeds of one configuration in this process, loading its data once."""
    try:
        started = time.perf_counter()
        splits = execute.load_data(the_plan, context)
        load_seconds = time.perf_counter() - started
    except Exception as exc:  # reported, the sweep goes on
        bar.update(len(seeds))
        return [_failed(the_plan.label, None, exc)]
    outcomes: list[Outcome] = []
    for seed in seeds:
        try:
            execute.run_seed(the_plan, splits, seed, load_seconds, context)
            outcomes.append(record_path(context.runs_dir, the_plan.run_id(seed)))
        except Exception as exc:  # reported, the sweep goes on
            outcomes.append(_failed(the_plan.label, seed, exc))
        bar.update(1)
    return outcomes


def _run_in_pool(
    pending: Sequence[tuple[Plan, list[int]]], context: RunContext, jobs: int, bar: tqdm
) -> list[Outcome]:
    """Prepare each configuration's data here, then one worker task per (config, seed)."""
    outcomes: list[Outcome] = []
    ready: list[_Job] = []
    on_cpu = dataclasses.replace(context, device=torch.device("cpu"))
    for the_plan, todo in pending:
        try:
            execute.load_data(the_plan, on_cpu)
        except Exception as exc:  # reported, the sweep goes on
            outcomes.append(_failed(the_plan.label, None, exc))
            bar.update(len(todo))
            continue
        ready += [_Job(the_plan.request, seed, the_plan.label) for seed in todo]
    in_worker = dataclasses.replace(context, progress=False)
    level = logging.getLogger(logs.ROOT).getEffectiveLevel()
    with ProcessPoolExecutor(
        jobs,
        mp_context=get_context("spawn"),
        initializer=_start_worker,
        initargs=(os.getpid(), level),
    ) as pool:
        futures = {pool.submit(_run_in_worker, job, in_worker) for job in ready}
        try:
            while futures:
                done, futures = wait(futures, return_when=FIRST_COMPLETED)
                for future in done:
                    outcomes.append(future.result())
                    bar.update(1)
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return outcomes
