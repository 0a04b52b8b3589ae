"""What a throughput figure depends on, measured in the same run: the CPU (or GPU), threads,
torch, the memory bandwidth and the matrix-product rate that bound how fast a call can be."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

PEAK_SIZE = 512
"""The square matrices whose product measures the machine's matrix rate (small enough that
the best of many tries is rarely cut by another process on a shared machine)."""
REPEATS = 50


def _sync(device: str) -> Callable[[], None]:
    return torch.cuda.synchronize if device == "cuda" else lambda: None


def _best_seconds(call: Callable[[], object], device: str, repeats: int) -> float:
    sync = _sync(device)
    best = float("inf")
    for _ in range(repeats):
        sync()
        started = time.perf_counter()
        call()
        sync()
        best = min(best, time.perf_counter() - started)
    return best


def bandwidth(device: str, megabytes: int = 32, repeats: int = REPEATS) -> float:
    """Measured memory bandwidth in bytes/s: the best of ``repeats`` copies of a tensor larger
    than a CPU's last-level cache share (each copy reads and writes it once); short copies, many
    times, so that on a shared machine some run without being preempted."""
    src = torch.ones(megabytes * 2**18, device=device)
    dst = torch.empty_like(src)
    seconds = _best_seconds(lambda: dst.copy_(src), device, repeats)
    return 2 * src.numel() * src.element_size() / seconds


def matmul_rate(device: str, dtype: torch.dtype, repeats: int = REPEATS) -> float:
    """Measured matrix-product rate in flop/s: the best of ``repeats`` products of two
    ``PEAK_SIZE``-square matrices (``2 n^3`` flops each) in ``dtype``."""
    a = torch.randn(PEAK_SIZE, PEAK_SIZE, device=device).to(dtype)
    b = torch.randn(PEAK_SIZE, PEAK_SIZE, device=device).to(dtype)
    a @ b  # the first call may set up the library
    return 2 * PEAK_SIZE**3 / _best_seconds(lambda: a @ b, device, repeats)


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()


def machine(devices: Iterable[str], dtypes: dict[str, torch.dtype]) -> dict[str, Any]:
    """CPU, threads, torch, GPU, and per device the measured bandwidth (GB/s) and matrix rate
    per dtype (GFLOP/s)."""
    facts: dict[str, Any] = {
        "cpu": cpu_model(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cores": len(os.sched_getaffinity(0)),
        "load": os.getloadavg()[0],
        "bandwidth_gb_s": {},
        "matmul_gflop_s": {},
    }
    for device in devices:
        if device == "cuda":
            facts["gpu"] = torch.cuda.get_device_name()
        facts["bandwidth_gb_s"][device] = bandwidth(device) / 1e9
        facts["matmul_gflop_s"][device] = {
            name: matmul_rate(device, dtype) / 1e9 for name, dtype in dtypes.items()
        }
    return facts


def describe(facts: dict[str, Any]) -> str:
    """One sentence naming the machine facts of a report (older reports lack some)."""
    bandwidth = ", ".join(f"{d} {v:.1f} GB/s" for d, v in facts.get("bandwidth_gb_s", {}).items())
    rates = "; ".join(
        f"{d} " + ", ".join(f"{t} {v:,.0f}" for t, v in per.items())
        for d, per in facts.get("matmul_gflop_s", {}).items()
    )
    gpu = f", GPU {facts['gpu']}" if "gpu" in facts else ""
    shared = ""
    if "cores" in facts:
        shared = f" ({facts['cores']} cores, 1-minute load average {facts['load']:.1f} at the end)"
    return (
        f"Machine: CPU {facts.get('cpu', '?')}{shared}, "
        f"{facts.get('threads', '?')} torch thread(s), torch {facts.get('torch', '?')}{gpu}; "
        f"measured in the same run: memory bandwidth (best large-tensor copy) "
        f"{bandwidth or '?'}; matrix rate (best {PEAK_SIZE}-square product, GFLOP/s) "
        f"{rates or '?'}."
    )
