"""The pooling throughput table: a pytest-benchmark JSON report -> ``pooling-throughput.md``.

Pairs every registered pooling with its vectorised baseline from the same run (the speed-up)
and, for the paper's shapes, compares each figure with the machine's bound: the slower of
moving the call's minimal bytes at the measured bandwidth and doing its matrix flops at the
measured matrix rate (a roofline).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from atr_bench.errors import AtrBenchError
from atr_bench.perf.markdown import device_sections, number, page_header, write_markdown
from atr_bench.perf.suite_report import read_suite_report
from atr_bench.perf.throughput import IMPLS, SHAPES

TARGET = {
    "pooling": "netrvlad",
    "shape": "audiocaps",
    "mode": "forward+backward",
    "dtype": "fp32",
    "device": "cpu",
}
"""The acceptance figure: built-in netrvlad forward+backward at the AudioCaps shape on CPU ..."""
TARGET_SPEEDUP = 1.5
""" ... must be at least this many times the vectorised baseline's clips/s, in one run."""

KEYS = ["device", "shape", "mode", "dtype", "pooling"]
HEADERS = [
    "pooling",
    "shape",
    "mode",
    "dtype",
    "clips/s",
    "baseline clips/s",
    "speed-up",
    "bound clips/s",
    "bound by",
    "% of bound",
]


def load(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The throughput rows and the machine facts (with the run's date) of a JSON report
    written by the suite."""
    rows, machine = read_suite_report(path, "clips_per_s")
    rows = [row for row in rows if row.get("impl") in IMPLS]  # reports before the baselines
    if not rows:
        raise AtrBenchError(f"{path} holds no pooling throughput results; run the suite first")
    return pd.DataFrame(rows), machine


def summarise(frame: pd.DataFrame, machine: dict[str, Any]) -> pd.DataFrame:
    """One row per registered pooling (and execution variant: ``netvlad kernel=triton``) per
    shape/mode/dtype/device with its baseline's clips/s, the speed-up, and (paper shapes)
    the roofline bound, which of bandwidth or compute sets it, and the fraction reached."""
    frame = frame.assign(variant=frame.get("variant", "")).fillna({"variant": ""})
    registered = frame[frame["impl"] == "registered"].set_index(KEYS)
    baseline = frame[frame["impl"] == "baseline"].set_index(KEYS)["clips_per_s"]
    table = registered.assign(reference=baseline.reindex(registered.index)).reset_index()
    table["pooling"] = (table["pooling"] + " " + table["variant"]).str.strip()
    table["speedup"] = table["clips_per_s"] / table["reference"]
    bandwidth = table["device"].map(machine.get("bandwidth_gb_s", {})).astype(float) * 1e9
    memory_s = table["min_bytes"] / bandwidth
    rates = machine.get("matmul_gflop_s", {})
    rate = [
        rates.get(d, {}).get(t, float("nan")) * 1e9
        for d, t in zip(table["device"], table["dtype"], strict=True)
    ]
    flops = table["flops"] if "flops" in table else pd.Series(0.0, index=table.index)
    compute_s = (flops.fillna(0.0) / pd.Series(rate, index=table.index)).fillna(0.0)
    table["bound"] = (table["batch"] / memory_s.combine(compute_s, max)).where(table["paper"])
    table["bound_by"] = (compute_s > memory_s).map({True: "compute", False: "memory"})
    table["of_bound"] = table["clips_per_s"] / table["bound"]
    order = {shape.name: i for i, shape in enumerate(SHAPES)}
    table["order"] = table["shape"].map(order)
    return table.sort_values(["device", "order", "mode", "dtype", "pooling"], kind="stable")


def _ratio(value: float, suffix: str, scale: float = 1.0) -> str:
    return "-" if pd.isna(value) else f"{value * scale:.3g}{suffix}"


def target_line(table: pd.DataFrame) -> str | None:
    """The acceptance sentence, when the run measured the target pair."""
    hit = table[(table[list(TARGET)] == pd.Series(TARGET)).all(axis=1)]
    if hit.empty or pd.isna(hit.iloc[0]["reference"]):
        return None
    row = hit.iloc[0]
    shape = next(s for s in SHAPES if s.name == TARGET["shape"])
    verdict = "met" if row["speedup"] >= TARGET_SPEEDUP else "NOT met"
    return (
        f"**Built-in netrvlad, forward+backward, AudioCaps shape "
        f"({shape.batch}x{shape.frames}x{shape.dim}), fp32, CPU: {number(row['clips_per_s'])} "
        f"clips/s, {row['speedup']:.2f}x its vectorised baseline's {number(row['reference'])} "
        f"clips/s in the same run (target >= {TARGET_SPEEDUP}x: {verdict}), "
        f"{_ratio(row['of_bound'], '%', 100.0)} of the machine's {row['bound_by']} bound.**"
    )


def render(table: pd.DataFrame, machine: dict[str, Any], command: str) -> str:
    """The Markdown page: provenance, machine, the target sentence, one table per device."""
    lines = page_header("Pooling throughput", command, machine)
    target = target_line(table)
    if target:
        lines += [target, ""]
    lines += [
        "Shapes: "
        + "; ".join(
            f"{r.shape} = {r.note}{'' if r.paper else ' (not the paper)'}"
            for r in table.drop_duplicates("shape").itertuples()
        )
        + ".",
        "",
        "clips/s = batch / the best round's seconds per call (batch 128 on the paper's shapes). "
        "*forward*: inference (eval, no autograd); *forward+backward*: a training step's "
        "pooling work with gradients for the input and every parameter. *baseline*: the same "
        "formula written the plain vectorised way a user or the paper's released code writes "
        "it (`atr_bench/perf/baselines.py`: one masked reduction for mean and max; softmax, "
        "one einsum and two normalisations for VLAD), timed in the same run; speed-up = "
        "clips/s / baseline clips/s. lstm and transformer have no baseline: they are the "
        "torch modules themselves. *bound*: the clips/s this machine would allow if a call "
        "only moved its minimal bytes (read input, mask, parameters; write output; a backward "
        "also reads the output gradient, writes input and parameter gradients and re-reads "
        "the input for the parameters') at the measured bandwidth and only did its matrix "
        "flops (torch's flop counter; LSTM cells counted by hand) at the measured matrix "
        "rate, whichever takes longer (*bound by*); shown for the paper's shapes. Ratios "
        "come from one run; on a machine other processes share the absolute figures move "
        "with their load (the load average is quoted above).",
        "",
    ]
    lines += device_sections(
        table,
        HEADERS,
        lambda r: [
            r.pooling,
            f"{r.shape} {r.batch}x{r.frames}x{r.dim}",
            r.mode,
            r.dtype,
            number(r.clips_per_s),
            number(r.reference),
            _ratio(r.speedup, "x"),
            number(r.bound),
            r.bound_by if not pd.isna(r.bound) else "-",
            _ratio(r.of_bound, "%", 100.0),
        ],
    )
    return "\n".join(lines)


def write_report(json_path: Path, out: Path, command: str) -> Path:
    """Read the suite's JSON report and atomically write the Markdown summary to ``out``."""
    frame, machine = load(json_path)
    return write_markdown(out, render(summarise(frame, machine), machine, command))
