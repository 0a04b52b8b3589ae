"""Where a sweep's runs go: worker processes of this machine (``local``), a Slurm job array
(``slurm``, through submitit) or a Ray cluster (``ray``). Each ships the same ``Task`` to the
same per-run function (``run.task.run_task``) and reports each ``TaskResult`` as it comes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from atr_bench.run.task import Task, TaskResult

EXECUTORS = ("local", "slurm", "ray")


class Executor(Protocol):
    """Runs tasks somewhere and calls ``report`` once per task, in any order."""

    remote: bool
    """Whether the workers run elsewhere: then the submitting process neither resolves the
    device nor checks the execution of finished records (the workers do)."""

    def run(self, tasks: Sequence[Task], report: Callable[[TaskResult], None]) -> None: ...
