"""A Ray cluster: one Ray task per run, on the cluster at ``address`` or on a local one this
process starts (and stops). A worker process that dies is retried by Ray; the retry takes the
dead worker's claim over and resumes the run from its last epoch checkpoint."""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from atr_bench.errors import AtrBenchError
from atr_bench.run.task import Task, TaskResult, failed, one_line, run_task

LOCAL_OBJECT_STORE = 256 << 20
"""Bytes of object store for a local cluster: tasks and results are small."""


CONNECT_TIMEOUT_S = 5.0
"""How long a cluster's address may take to answer before it is called unreachable (Ray
itself would retry for minutes without a word)."""


def check_address(address: str) -> None:
    """Refuse, at once and in one line, a cluster address where nothing answers. ``auto``
    (the cluster this machine belongs to) is left to Ray."""
    if address == "auto":
        return
    where = address.removeprefix("ray://")
    host, sep, port = where.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise AtrBenchError(
            f"--ray-address {address!r}: expected HOST:PORT (e.g. 10.0.0.5:6379), "
            "ray://HOST:PORT or auto"
        )
    try:
        with socket.create_connection((host.strip("[]"), int(port)), CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        why = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise AtrBenchError(
            f"--ray-address {address}: nothing answers there ({why} within "
            f"{CONNECT_TIMEOUT_S:.0f} s); start the cluster (`ray start --head`) or check the "
            "address"
        ) from None


def _ray():
    try:
        import ray
    except ImportError:
        raise AtrBenchError("--executor ray needs ray: pip install 'atr-bench[ray]'") from None
    return ray


@dataclass(frozen=True)
class RayCluster:
    """``address``: a running cluster (``host:port`` or ``auto``), or None to start a local
    one of ``local_cpus`` CPUs; every run asks for ``cpus`` and ``gpus``."""

    address: str | None = None
    cpus: float = 1.0
    gpus: float = 0.0
    local_cpus: int | None = None
    retries: int = 3
    remote = True

    def run(self, tasks: Sequence[Task], report: Callable[[TaskResult], None]) -> None:
        if not tasks:
            return
        ray = _ray()
        started = not ray.is_initialized()
        if started:
            try:
                if self.address:
                    ray.init(address=self.address, log_to_driver=False)
                else:
                    ray.init(
                        num_cpus=self.local_cpus,
                        include_dashboard=False,
                        object_store_memory=LOCAL_OBJECT_STORE,
                        log_to_driver=False,
                    )
            except Exception as exc:  # no cluster there, or none could start
                raise AtrBenchError(f"--executor ray: {one_line(exc)}") from None
        try:
            remote = ray.remote(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=self.retries)
            per_run = remote(run_task)
            refs = {per_run.remote(task): task for task in tasks}
            print(f"sent {len(refs)} runs to Ray", file=sys.stderr)
            while refs:
                done, _ = ray.wait(list(refs), num_returns=1)
                for ref in done:
                    task = refs.pop(ref)
                    try:
                        report(ray.get(ref))
                    except Exception as exc:  # its worker died more often than retried
                        report(failed(task, one_line(exc)))
        finally:
            if started:
                ray.shutdown()
