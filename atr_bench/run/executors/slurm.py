"""A Slurm job array through submitit: one array per sweep, one task per run.

A task stopped by preemption or its time limit is requeued by submitit's checkpointing hook
with the same run; it takes its own earlier claim over and the trainer resumes from the last
epoch checkpoint. A task that ended without a result (killed, cancelled, out of memory) is a
failure, with the last line of its log; sweeping again takes its claim over and re-runs it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from atr_bench.errors import AtrBenchError
from atr_bench.run.task import Task, TaskResult, failed, one_line, run_task


def _submitit():
    try:
        import submitit
    except ImportError:
        raise AtrBenchError(
            "--executor slurm needs submitit: pip install 'atr-bench[slurm]'"
        ) from None
    return submitit


SBATCH_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
"""An sbatch flag's name (``qos``, ``mail-type``)."""


def _script_safe(value: str, flag: str) -> None:
    """Refuse a value that would not stay on its ``#SBATCH`` line: a line break or another
    control character would start a line of its own in the job script, run by the shell."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise AtrBenchError(
            f"{flag} {value!r}: holds a line break or control character, which would become a "
            "line of its own in the job script; give a one-line value"
        )


@dataclass(frozen=True)
class SlurmOptions:
    """What each array task asks Slurm for; ``sbatch`` holds extra ``#SBATCH`` flags. Every
    text that goes into the job script is checked here, where it leaves the harness."""

    log_folder: Path
    partition: str | None = None
    gpus_per_task: int = 0
    cpus_per_task: int = 1
    mem: str | None = None
    time_min: int = 60
    array_parallelism: int = 64
    sbatch: tuple[tuple[str, str | bool], ...] = ()
    poll_s: float = 3.0

    def __post_init__(self) -> None:
        for text, flag in ((self.partition, "--slurm-partition"), (self.mem, "--slurm-mem")):
            if text is not None:
                _script_safe(text, flag)
        _script_safe(str(self.log_folder), "--slurm-logs")
        for name, value in self.sbatch:
            if not SBATCH_NAME.fullmatch(name):
                raise AtrBenchError(
                    f"--slurm-sbatch {name!r}: not an sbatch flag name (letters, digits, - "
                    "and _, starting with a letter), e.g. qos=high"
                )
            if isinstance(value, str):
                _script_safe(value, f"--slurm-sbatch {name}")


class Requeueable:
    """The per-run function as submitit calls it; on preemption or time-out, submitit calls
    ``checkpoint`` and requeues the same task (the run's resume file holds its progress)."""

    def __call__(self, task: Task) -> TaskResult:
        env = os.environ  # submitit makes a job array of two runs or more, a plain job of one
        array, index = env.get("SLURM_ARRAY_JOB_ID"), env.get("SLURM_ARRAY_TASK_ID")
        job = f"{array}_{index}" if array and index else env["SLURM_JOB_ID"]
        return run_task(task, slurm_task=job)

    def checkpoint(self, task: Task):
        return _submitit().helpers.DelayedSubmission(self, task)


@dataclass(frozen=True)
class SlurmArray:
    options: SlurmOptions
    remote = True

    def _executor(self):
        o = self.options
        executor = _submitit().SlurmExecutor(folder=str(o.log_folder), python=sys.executable)
        params = {
            "job_name": "atr-bench",
            "cpus_per_task": o.cpus_per_task,
            "time": o.time_min,
            "array_parallelism": o.array_parallelism,
            "additional_parameters": dict(o.sbatch),
        }
        optional = {"partition": o.partition, "mem": o.mem, "gpus_per_task": o.gpus_per_task}
        params.update({key: value for key, value in optional.items() if value})
        executor.update_parameters(**params)
        return executor

    def run(self, tasks: Sequence[Task], report: Callable[[TaskResult], None]) -> None:
        if not tasks:
            return
        try:
            jobs = self._executor().map_array(Requeueable(), list(tasks))
        except Exception as exc:  # sbatch refused: a one-line reason, not a traceback
            raise AtrBenchError(f"--executor slurm: submitting failed: {one_line(exc)}") from None
        array = jobs[0].job_id.split("_")[0]
        print(f"submitted Slurm job array {array} ({len(jobs)} runs)", file=sys.stderr)
        remaining = dict(zip(jobs, tasks, strict=True))
        gone: set = set()  # out of the queue without a result: failed, if still so next poll
        try:
            while remaining:
                queued = _queued(array)
                for job, task in list(remaining.items()):
                    if job.paths.result_pickle.exists():
                        result = _outcome(job, task)
                    elif job.job_id in queued:
                        gone.discard(job)
                        continue
                    elif job not in gone:  # look once more: its result may be on its way
                        gone.add(job)
                        continue
                    else:
                        result = _died(job, task)
                    report(result)
                    del remaining[job]
                if remaining:
                    time.sleep(self.options.poll_s)
        except KeyboardInterrupt:
            print(f"job array {array} goes on; `scancel {array}` stops it", file=sys.stderr)
            raise


def _queued(array: str) -> set[str]:
    """Ids (``<array>_<index>``) of the array's tasks still pending or running."""
    out = subprocess.run(
        ["squeue", "--noheader", "--array", "--jobs", array, "--format", "%i"],
        capture_output=True,
        text=True,
    )
    return set(out.stdout.split()) if out.returncode == 0 else set()


def _outcome(job, task: Task) -> TaskResult:
    try:
        return job.result()
    except Exception as exc:  # the task raised outside run_task's own handling
        return failed(task, one_line(exc))


def _died(job, task: Task) -> TaskResult:
    try:
        lines = [line for line in job.paths.stderr.read_text().splitlines() if line.strip()]
    except OSError:
        lines = []
    last = lines[-1] if lines else "no log"
    return failed(task, f"Slurm task {job.job_id} ended without a result ({last})")
