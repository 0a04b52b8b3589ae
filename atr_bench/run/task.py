"""One run of a sweep as any worker does it (a local process, a Slurm task, a Ray task): skip
it when its record exists, else claim it, run it (resuming from its last epoch checkpoint),
and leave a failure mark when it fails."""

from __future__ import annotations

import dataclasses
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from atr_bench.plugins.registry import registry
from atr_bench.record.claims import CLAIM_TTL, Owner, claim_path, holding, try_claim
from atr_bench.record.failures import clear_failure, mark_failed
from atr_bench.record.results import execution, read_done, record_path
from atr_bench.run import execute
from atr_bench.run.config import RunRequest
from atr_bench.run.context import RunContext
from atr_bench.run.plan import plan

DONE, SKIPPED, BUSY, FAILED = "done", "skipped", "busy", "failed"
"""What became of a task: run here, found done, claimed by a live worker elsewhere, failed."""


@dataclass(frozen=True)
class Task:
    """Everything a worker needs for one (configuration, seed): the run's context as the
    submitting process made it (one object for every executor), the device it asks for,
    resolved on the worker's own hardware, and the claims' time to live; picklable, so that
    it can be shipped to a Slurm or Ray worker."""

    config: RunRequest
    seed: int
    label: str
    run_id: str
    device: str
    context: RunContext
    claim_ttl: float = CLAIM_TTL

    @property
    def runs_dir(self) -> Path:
        return self.context.runs_dir


@dataclass(frozen=True)
class TaskResult:
    task: Task
    status: str
    path: Path | None = None
    detail: str | None = None


def failed(task: Task, reason: str) -> TaskResult:
    """A task whose worker died or could not report: marked failed unless its record exists."""
    if not record_path(task.runs_dir, task.run_id).exists():
        mark_failed(task.runs_dir, task.run_id, reason)
    return TaskResult(task, FAILED, None, reason)


def one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


def run_claimed(
    runs_dir: Path,
    run_id: str,
    expected: dict[str, Any],
    work: Callable[[], object],
    ttl: float = CLAIM_TTL,
    owner: Owner | None = None,
    *,
    force: bool = False,
    keep_going: bool = True,
) -> tuple[str, str | None]:
    """``work()`` under the run's claim, unless its record exists (checked again once the
    claim is held: another worker may have finished it meanwhile; ``force`` redoes it) or a
    live worker holds it. A failure leaves a mark with its traceback (then, unless
    ``keep_going``, is raised again, as a single ``run`` shows it); a success clears an older
    one. Every way of running a run (``atr-bench run``, a sweep's workers) goes through here."""
    path = record_path(runs_dir, run_id)
    if path.exists() and not force:
        read_done(path, expected)
        return SKIPPED, None
    owner, claim = owner or Owner.here(), claim_path(runs_dir, run_id)
    held = try_claim(claim, owner, ttl)
    if held is not None:
        return BUSY, f"{held.owner.describe()}, heartbeat {held.age():.0f} s ago"
    with holding(claim, owner, ttl):
        if path.exists() and not force:
            read_done(path, expected)
            return SKIPPED, None
        try:
            work()
        except Exception as exc:  # reported, the sweep goes on
            mark_failed(runs_dir, run_id, traceback.format_exc() + one_line(exc))
            if not keep_going:
                raise
            return FAILED, one_line(exc)
        clear_failure(runs_dir, run_id)
    return DONE, None


def run_task(task: Task, slurm_task: str | None = None) -> TaskResult:
    """The per-run function every executor calls (``slurm_task``: see ``Owner.here``).
    Features and text caches were made by the submitting process, so this only reads them."""
    threads = task.context.threads
    if threads:
        torch.set_num_threads(threads)
    try:
        the_plan = plan(task.config, registry(), task.context.data_root)
        device = execute.resolve_device(task.device)
        context = dataclasses.replace(task.context, device=device, progress=False)

        def work() -> None:
            started = time.perf_counter()
            splits = execute.load_data(the_plan, context)
            load_seconds = time.perf_counter() - started
            execute.run_seed(the_plan, splits, task.seed, load_seconds, context)

        status, detail = run_claimed(
            task.runs_dir,
            task.run_id,
            execution(device, threads),
            work,
            task.claim_ttl,
            Owner.here(slurm_task),
        )
    except Exception as exc:  # a bad plan or record: reported, the sweep goes on
        return TaskResult(task, FAILED, None, one_line(exc))
    path = record_path(task.runs_dir, task.run_id) if status in (DONE, SKIPPED) else None
    return TaskResult(task, status, path, detail)
