"""Sweeps: the cross product of components, one protocol run per configuration and seed.

Runs whose record exists are skipped, a failed run does not stop the others, each run is
claimed before it starts, and runs can go to worker processes, a Slurm job array or a Ray
cluster (``run.executors``). Features and text caches are prepared in the parent first, so
workers only read them.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from atr_bench.errors import AtrBenchError
from atr_bench.plugins.registry import registry
from atr_bench.record.claims import CLAIM_TTL
from atr_bench.record.results import execution, read_done, record_path
from atr_bench.run import execute
from atr_bench.run.config import RunRequest
from atr_bench.run.context import RunContext
from atr_bench.run.executors import Executor
from atr_bench.run.executors.local import LocalPool
from atr_bench.run.plan import Plan, plan
from atr_bench.run.task import BUSY, DONE, FAILED, SKIPPED, Task, TaskResult, run_claimed

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


def expand(base: RunRequest, grid: Mapping[str, Sequence[str]]) -> list[RunRequest]:
    """Every combination of the values in ``grid`` (field name -> values) applied to ``base``."""
    fields = list(grid)
    changes: list[dict[str, Any]] = [
        dict(zip(fields, values, strict=True))
        for values in itertools.product(*(grid[f] for f in fields))
    ]
    return [dataclasses.replace(base, **c) for c in changes]


def _failed(label: str, seed: int | None, exc: Exception) -> Failure:
    """A run's failure, reported on one line; with ``--debug`` its traceback is logged too."""
    _log.debug("%s%s failed", label, "" if seed is None else f" seed {seed}", exc_info=exc)
    return Failure(label, seed, f"{type(exc).__name__}: {exc}")


def sweep(
    configs: Sequence[RunRequest],
    seeds: Sequence[int],
    context: RunContext,
    jobs: int = 1,
    executor: Executor | None = None,
    claim_ttl: float = CLAIM_TTL,
    worker_device: str | None = None,
) -> SweepReport:
    """Run every configuration for every seed, skipping runs whose record already exists;
    each run is claimed first, so that sweeps of the same grid at once do it only once.
    ``executor`` sends the runs elsewhere (default: this process, or ``jobs`` workers), whose
    workers resolve ``worker_device`` (default: the context's device) on their own hardware."""
    tally = _Tally()
    pending: list[tuple[Plan, list[int]]] = []
    if executor is None and jobs > 1:
        executor = LocalPool(jobs)
        threads = context.threads or max(1, (os.cpu_count() or 1) // jobs)
        context = dataclasses.replace(context, threads=threads)
    remote = executor is not None and executor.remote
    for config in configs:
        planned = _plan_or_fail(config, context, tally)
        if planned is not None:
            todo = _seeds_to_run(planned, seeds, context, remote, tally)
            if todo:
                pending.append((planned, todo))
    total = sum(len(todo) for _, todo in pending)
    tally.bar = tqdm(total=total, desc="sweep", unit="run", disable=not context.progress)
    if executor is None:
        for the_plan, todo in pending:
            _run_plan_here(the_plan, todo, context, tally, claim_ttl)
    else:
        device = worker_device or str(context.device)

        def task(the_plan: Plan, seed: int) -> Task:
            run_id = the_plan.run_id(seed)
            return Task(the_plan.request, seed, the_plan.label, run_id, device, context, claim_ttl)

        tasks = _prepare(pending, task, context, tally)
        executor.run(tasks, tally.result)
    tally.bar.close()
    return tally.report()


def _plan_or_fail(config: RunRequest, context: RunContext, tally: _Tally) -> Plan | None:
    """The configuration's plan, sound or allowed; None (a failure tallied) when it is not:
    stopped before its data loads."""
    label = f"{config.dataset}/{config.extractor}/{config.pooling} ({config.protocol})"
    try:
        the_plan = plan(config, registry(), context.data_root)
        execute.sound_or_allowed(the_plan, context)
    except AtrBenchError as exc:
        tally.failures.append(_failed(label, None, exc))
        return None
    return the_plan


def _seeds_to_run(
    the_plan: Plan, seeds: Sequence[int], context: RunContext, remote: bool, tally: _Tally
) -> list[int]:
    """The seeds without a record; one with a record is tallied as skipped when it is this
    run's under this execution (a remote worker's execution is checked there), else failed."""
    todo = []
    for seed in seeds:
        path = record_path(context.runs_dir, the_plan.run_id(seed))
        if not path.exists():
            todo.append(seed)
            continue
        try:
            read_done(path, {} if remote else execution(context.device, context.threads))
            tally.skipped.append(path)
        except AtrBenchError as exc:
            tally.failures.append(_failed(the_plan.label, seed, exc))
    return todo


class _Tally:
    """What the runs of a sweep came to, as they come."""

    def __init__(self) -> None:
        self.written: list[Path] = []
        self.skipped: list[Path] = []
        self.failures: list[Failure] = []
        self.elsewhere: list[str] = []
        self.bar: tqdm | None = None

    def step(self, runs: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(runs)

    def add(
        self, label: str, seed: int, status: str, path: Path | None, detail: str | None
    ) -> None:
        if status == DONE and path is not None:
            self.written.append(path)
        elif status == SKIPPED and path is not None:
            self.skipped.append(path)
        elif status == BUSY:
            self.elsewhere.append(f"{label} seed {seed}: {detail}")
        else:
            self.failures.append(Failure(label, seed, detail or "failed"))
        self.step()

    def result(self, r: TaskResult) -> None:
        self.add(r.task.label, r.task.seed, r.status, r.path, r.detail)

    def report(self) -> SweepReport:
        return SweepReport(
            tuple(self.written), tuple(self.skipped), tuple(self.failures), tuple(self.elsewhere)
        )


def _run_plan_here(
    the_plan: Plan, seeds: Sequence[int], context: RunContext, tally: _Tally, claim_ttl: float
) -> None:
    """All seeds of one configuration in this process, loading its data once."""
    try:
        started = time.perf_counter()
        splits = execute.load_data(the_plan, context)
        load_seconds = time.perf_counter() - started
    except Exception as exc:  # reported, the sweep goes on
        tally.failures.append(_failed(the_plan.label, None, exc))
        tally.step(len(seeds))
        return
    expected = execution(context.device, context.threads)
    for seed in seeds:
        run_id = the_plan.run_id(seed)

        def work(seed: int = seed) -> None:
            execute.run_seed(the_plan, splits, seed, load_seconds, context)

        try:
            status, detail = run_claimed(context.runs_dir, run_id, expected, work, claim_ttl)
        except AtrBenchError as exc:
            status, detail = FAILED, str(exc)
        tally.add(the_plan.label, seed, status, record_path(context.runs_dir, run_id), detail)


def _prepare(
    pending: Sequence[tuple[Plan, list[int]]],
    task: Callable[[Plan, int], Task],
    context: RunContext,
    tally: _Tally,
) -> list[Task]:
    """Make each configuration's features and text caches here, so that workers only read
    them; then one task per (configuration, seed)."""
    ready: list[Task] = []
    on_cpu = dataclasses.replace(context, device=torch.device("cpu"))
    for the_plan, todo in pending:
        try:
            execute.load_data(the_plan, on_cpu)
        except Exception as exc:  # reported, the sweep goes on
            tally.failures.append(_failed(the_plan.label, None, exc))
            tally.step(len(todo))
            continue
        ready += [task(the_plan, seed) for seed in todo]
    return ready
