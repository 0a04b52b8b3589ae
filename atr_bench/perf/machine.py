"""What a throughput figure depends on, measured in the same run: the CPU (or GPU), threads,
torch, the memory bandwidth and the matrix-product rate that bound how fast a call can be."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch


@dataclass(frozen=True)
class Probe:
    """The sizes that measure a device's ceilings: the side of the square matrices whose
    product gives the matrix rate and the megabytes copied for the bandwidth. A CPU on a shared
    machine gets small ones, many times, so the best try is rarely cut by another process; a
    GPU gets ones that fill it (a 512-square product or a 32 MB copy on an H200 times the
    launch and its 60 MB cache, not the chip: 9 TFLOP/s and 2.5 TB/s against 4.3 TB/s)."""

    matrix: int
    copy_mb: int
    repeats: int


PROBES = {"cpu": Probe(512, 32, 50), "cuda": Probe(8192, 2048, 10)}


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


def bandwidth(device: str) -> float:
    """Measured memory bandwidth in bytes/s: the best of the device's ``Probe`` copies (each
    reads and writes the tensor once)."""
    probe = PROBES[device]
    src = torch.ones(probe.copy_mb * 2**18, device=device)
    dst = torch.empty_like(src)
    dst.copy_(src)  # the first call may set up the device
    seconds = _best_seconds(lambda: dst.copy_(src), device, probe.repeats)
    return 2 * src.numel() * src.element_size() / seconds


def matmul_rate(device: str, dtype: torch.dtype) -> float:
    """Measured matrix-product rate in flop/s: the best of the device's ``Probe`` products of
    two square matrices (``2 n^3`` flops each) in ``dtype``."""
    probe = PROBES[device]
    n = probe.matrix
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    a @ b  # the first call may set up the library
    return 2 * n**3 / _best_seconds(lambda: a @ b, device, probe.repeats)


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
        "probe": {},
        "bandwidth_gb_s": {},
        "matmul_gflop_s": {},
    }
    for device in devices:
        if device == "cuda":
            facts["gpu"] = torch.cuda.get_device_name()
        facts["probe"][device] = asdict(PROBES[device])
        facts["bandwidth_gb_s"][device] = bandwidth(device) / 1e9
        facts["matmul_gflop_s"][device] = {
            name: matmul_rate(device, dtype) / 1e9 for name, dtype in dtypes.items()
        }
    return facts


def describe(facts: dict[str, Any]) -> str:
    """One sentence naming the machine facts of a report (older reports lack some; theirs were
    measured at the CPU's probe sizes)."""
    probes = {d: facts.get("probe", {}).get(d, asdict(PROBES["cpu"])) for d in PROBES}
    bandwidth = ", ".join(
        f"{d} {v:.1f} GB/s ({probes[d]['copy_mb']} MB)"
        for d, v in facts.get("bandwidth_gb_s", {}).items()
    )
    rates = "; ".join(
        f"{d} "
        + ", ".join(f"{t} {v:,.0f}" for t, v in per.items())
        + f" ({probes[d]['matrix']}-square)"
        for d, per in facts.get("matmul_gflop_s", {}).items()
    )
    gpu = f", GPU {facts['gpu']}" if "gpu" in facts else ""
    shared = ""
    if "cores" in facts:
        shared = f" ({facts['cores']} cores, 1-minute load average {facts['load']:.1f} at the end)"
    return (
        f"Machine: CPU {facts.get('cpu', '?')}{shared}, "
        f"{facts.get('threads', '?')} torch thread(s), torch {facts.get('torch', '?')}{gpu}; "
        f"measured in the same run: memory bandwidth (best copy of a tensor of the size shown) "
        f"{bandwidth or '?'}; matrix rate (best product of two square matrices of the side "
        f"shown, GFLOP/s) {rates or '?'}."
    )
