"""Sweeps: the cross product of components, one protocol run per configuration and seed.

Runs whose record exists are skipped, a failed run does not stop the others, each run is
claimed before it starts, and runs can go to worker processes, a Slurm job array or a Ray
cluster (``run.executors``). Features and text caches are prepared in the parent first, so
workers only read them.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from atr_bench.errors import AtrBenchError
from atr_bench.plugins.registry import registry
from atr_bench.record.claims import CLAIM_TTL
from atr_bench.record.results import execution, read_done, read_record, record_path
from atr_bench.run import execute
from atr_bench.run.config import RunConfig
from atr_bench.run.executors import Executor
from atr_bench.run.executors.local import LocalPool
from atr_bench.run.plan import Plan, plan
from atr_bench.run.task import BUSY, DONE, FAILED, SKIPPED, Task, TaskResult, run_claimed


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
    elsewhere: tuple[str, ...] = ()
    """Runs left alone because a live worker of another sweep holds their claim."""

    def summary(self) -> str:
        lines = [
            f"{len(self.written)} runs done, {len(self.skipped)} already done (skipped), "
            f"{len(self.failures)} failed"
        ]
        if self.elsewhere:
            lines[0] += f", {len(self.elsewhere)} running elsewhere (claimed by another worker)"
        for f in self.failures:
            seed = "" if f.seed is None else f" seed {f.seed}"
            lines.append(f"  FAILED {f.label}{seed}: {f.reason}")
        lines += [f"  RUNNING ELSEWHERE {run}" for run in self.elsewhere]
        return "\n".join(lines)


def expand(base: RunConfig, grid: Mapping[str, Sequence[str]]) -> list[RunConfig]:
    """Every combination of the values in ``grid`` (field name -> values) applied to ``base``."""
    fields = list(grid)
    return [
        dataclasses.replace(base, **dict(zip(fields, values, strict=True)))
        for values in itertools.product(*(grid[f] for f in fields))
    ]


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
    executor: Executor | None = None,
    claim_ttl: float = CLAIM_TTL,
) -> SweepReport:
    """Run every configuration for every seed, skipping runs whose record already exists;
    each run is claimed first, so that sweeps of the same grid at once do it only once.
    ``executor`` sends the runs elsewhere (default: this process, or ``jobs`` workers)."""
    tally = _Tally()
    pending: list[tuple[Plan, list[int]]] = []
    if executor is None and jobs > 1:
        executor = LocalPool(jobs)
        threads = threads or max(1, (os.cpu_count() or 1) // jobs)
    remote = executor is not None and executor.remote
    dev = None if remote else execute.resolve_device(device)
    for config in configs:
        label = f"{config.dataset}/{config.extractor}/{config.pooling} ({config.protocol})"
        try:
            the_plan = plan(config, registry(), data_root)
        except AtrBenchError as exc:
            tally.failures.append(Failure(label, None, str(exc)))
            continue
        todo = []
        for seed in seeds:
            path = record_path(runs_dir, the_plan.run_id(seed))
            if not path.exists():
                todo.append(seed)
                continue
            try:  # remote workers check the execution themselves, on their own device
                read_record(path) if dev is None else read_done(path, execution(dev, threads))
                tally.skipped.append(path)
            except AtrBenchError as exc:
                tally.failures.append(Failure(the_plan.label, seed, str(exc)))
        if todo:
            pending.append((the_plan, todo))
    total = sum(len(todo) for _, todo in pending)
    tally.bar = tqdm(total=total, desc="sweep", unit="run", disable=not progress)
    if executor is None:
        for the_plan, todo in pending:
            _run_plan_here(the_plan, todo, dev, runs_dir, tally, progress, stream, claim_ttl)
    else:

        def task(the_plan: Plan, seed: int) -> Task:
            run_id = the_plan.run_id(seed)
            return Task(
                the_plan.config, seed, the_plan.label, run_id, device, runs_dir, data_root,
                threads, stream, claim_ttl,
            )  # fmt: skip

        tasks = _prepare(pending, task, tally.bar, tally.failures, stream)
        executor.run(tasks, tally.result)
    tally.bar.close()
    return tally.report()


class _Tally:
    """What the runs of a sweep came to, as they come."""

    def __init__(self) -> None:
        self.written: list[Path] = []
        self.skipped: list[Path] = []
        self.failures: list[Failure] = []
        self.elsewhere: list[str] = []
        self.bar: tqdm | None = None

    def add(self, label: str, seed: int, status: str, path: Path | None, detail: str | None):
        if status == DONE:
            self.written.append(path)
        elif status == SKIPPED:
            self.skipped.append(path)
        elif status == BUSY:
            self.elsewhere.append(f"{label} seed {seed}: {detail}")
        else:
            self.failures.append(Failure(label, seed, detail or "failed"))
        self.bar.update(1)

    def result(self, r: TaskResult) -> None:
        self.add(r.task.label, r.task.seed, r.status, r.path, r.detail)

    def report(self) -> SweepReport:
        return SweepReport(
            tuple(self.written), tuple(self.skipped), tuple(self.failures), tuple(self.elsewhere)
        )


def _run_plan_here(
    the_plan: Plan,
    seeds: Sequence[int],
    device: torch.device,
    runs_dir: Path,
    tally: _Tally,
    progress: bool,
    stream: str,
    claim_ttl: float,
) -> None:
    """All seeds of one configuration in this process, loading its data once."""
    try:
        started = time.perf_counter()
        splits = execute.load_data(the_plan, device, progress, stream)
        load_seconds = time.perf_counter() - started
    except Exception as exc:  # reported, the sweep goes on
        tally.failures.append(Failure(the_plan.label, None, f"{type(exc).__name__}: {exc}"))
        tally.bar.update(len(seeds))
        return
    for seed in seeds:
        run_id = the_plan.run_id(seed)

        def work(seed: int = seed) -> None:
            execute.run_seed(the_plan, splits, seed, device, runs_dir, load_seconds, progress)

        try:
            status, detail = run_claimed(runs_dir, run_id, execution(device), work, claim_ttl)
        except AtrBenchError as exc:
            status, detail = FAILED, str(exc)
        tally.add(the_plan.label, seed, status, record_path(runs_dir, run_id), detail)


def _prepare(
    pending: Sequence[tuple[Plan, list[int]]],
    task: Callable[[Plan, int], Task],
    bar: tqdm,
    failures: list[Failure],
    stream: str,
) -> list[Task]:
    """Make each configuration's features and text caches here, so that workers only read
    them; then one task per (configuration, seed)."""
    ready: list[Task] = []
    for the_plan, todo in pending:
        try:
            execute.load_data(the_plan, torch.device("cpu"), not bar.disable, stream)
        except Exception as exc:  # reported, the sweep goes on
            failures.append(Failure(the_plan.label, None, f"{type(exc).__name__}: {exc}"))
            bar.update(len(todo))
            continue
        ready += [task(the_plan, seed) for seed in todo]
    return ready
