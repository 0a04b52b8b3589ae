"""The end-to-end table: the suite's JSON report -> ``training-step-throughput.md``.

One row per pooling and dataset shape: clips/s of a whole training step and of one
evaluation pass, and what those make of an epoch of the dataset's training split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from atr_bench.errors import AtrBenchError
from atr_bench.perf.markdown import device_sections, number, page_header, write_markdown
from atr_bench.perf.step import STEP_SHAPES
from atr_bench.perf.suite_report import read_suite_report
from atr_bench.run.config import DEFAULT_PROTOCOL

TRAIN_CLIPS = {"audiocaps": 49_838, "clotho": 3_839}
"""Training clips of each dataset (AudioCaps train, Clotho development): an epoch's size."""
HEADERS = [
    "pooling",
    "dataset shape",
    "train step clips/s",
    "train epoch (s, estimate)",
    "eval pass clips/s",
    "train step, share of the fp32 matrix rate",
]


def load_steps(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The end-to-end rows and machine facts (with the run's date) of a JSON report."""
    rows, machine = read_suite_report(path, "step_clips_per_s")
    if not rows:
        raise AtrBenchError(f"{path} holds no training-step results; run the suite first")
    return pd.DataFrame(rows), machine


def summarise_steps(frame: pd.DataFrame) -> pd.DataFrame:
    """Train and eval clips/s side by side per device, dataset and pooling, and the epoch."""
    wide = frame.pivot_table(
        index=["device", "dataset", "frames", "tokens", "pooling"],
        columns="phase",
        values="step_clips_per_s",
    ).reset_index()
    for phase in ("train", "eval"):
        if phase not in wide:
            wide[phase] = float("nan")
    wide["epoch_s"] = wide["dataset"].map(TRAIN_CLIPS) / wide["train"]
    if "step_gflop_s" in frame:  # older reports have no flop counts
        train = frame[frame["phase"] == "train"]
        rate = train.set_index(["device", "dataset", "pooling"])["step_gflop_s"]
        keys = zip(wide["device"], wide["dataset"], wide["pooling"], strict=True)
        wide["gflop_s"] = [rate.get(key, float("nan")) for key in keys]
    else:
        wide["gflop_s"] = float("nan")
    order = {shape.name: i for i, shape in enumerate(STEP_SHAPES)}
    wide["order"] = wide["dataset"].map(order)
    return wide.sort_values(["device", "order", "pooling"], kind="stable")


def render_steps(table: pd.DataFrame, machine: dict[str, Any], command: str) -> str:
    """The Markdown page: provenance, machine, what a step is, one table per device."""
    lines = [
        *page_header("Training-step and evaluation throughput", command, machine),
        "*train step*: one `atr-bench run` training step (`atr_bench.run.training.train_step`)"
        f" under the default protocol (`{DEFAULT_PROTOCOL}`), built by the harness's own plan,"
        " model, loss and "
        "optimiser: the audio and the text pooling, both gated embedding units, similarity, "
        "loss, backward and the Ranger step, on 128 clips of random features of the dataset's "
        "panns_cnn14 shape with 5 captions of 20x300 word2vec tokens each; clips/s = 128 / "
        "the best round's seconds. *train epoch*: the dataset's training clips (AudioCaps "
        f"{TRAIN_CLIPS['audiocaps']:,}, Clotho {TRAIN_CLIPS['clotho']:,}) at that rate, "
        "validation not included. *eval pass*: `atr_bench.run.evaluation.evaluate` on 1000 "
        "clips and 5000 captions (every embedding and both directions' metrics); clips/s = "
        "1000 / seconds. *share of the fp32 matrix rate*: the step's matrix flops (torch's "
        "flop counter) per second of its best round, against the machine's measured fp32 "
        "matrix rate. On a machine other processes share the figures move with their load.",
        "",
    ]
    lines += device_sections(
        table,
        HEADERS,
        lambda r: [
            r.pooling,
            f"{r.dataset} {r.frames}x2048, text {r.tokens}x300",
            number(r.train),
            number(r.epoch_s),
            number(r.eval),
            _share(r.gflop_s, machine, r.device),
        ],
    )
    return "\n".join(lines)


def _share(gflop_s: float, machine: dict[str, Any], device: str) -> str:
    """A step's matrix flops per second as a share of the measured fp32 matrix rate."""
    peak = machine.get("matmul_gflop_s", {}).get(device, {}).get("fp32")
    if not peak or gflop_s != gflop_s:  # no rate measured, or no flop count
        return "-"
    return f"{100 * gflop_s / peak:.0f}% ({gflop_s:,.0f} of {peak:,.0f} GFLOP/s)"


def write_step_report(json_path: Path, out: Path, command: str) -> Path:
    """Read the suite's JSON report and atomically write the end-to-end table to ``out``."""
    frame, machine = load_steps(json_path)
    return write_markdown(out, render_steps(summarise_steps(frame), machine, command))
