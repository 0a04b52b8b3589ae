"""Worker processes of this machine, one task each, dying with the sweep that started them."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context

from atr_bench import logs
from atr_bench.run.task import Task, TaskResult, run_task

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
class LocalPool:
    """``jobs`` spawned worker processes."""

    jobs: int
    remote = False

    def run(self, tasks: Sequence[Task], report: Callable[[TaskResult], None]) -> None:
        level = logging.getLogger(logs.ROOT).getEffectiveLevel()
        with ProcessPoolExecutor(
            self.jobs,
            mp_context=get_context("spawn"),
            initializer=_start_worker,
            initargs=(os.getpid(), level),
        ) as pool:
            futures = {pool.submit(run_task, task) for task in tasks}
            try:
                while futures:
                    done, futures = wait(futures, return_when=FIRST_COMPLETED)
                    for future in done:
                        report(future.result())
            except KeyboardInterrupt:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
