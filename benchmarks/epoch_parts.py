"""Where a training epoch's time goes at a dataset's real shape, on any device: the harness's
own ``train`` on random features held in memory (no files to write or read first), each of its
parts timed where it runs.

    python benchmarks/epoch_parts.py --device cuda --dataset audiocaps --protocol lou2022 \\
        --pooling netrvlad --epochs 3 --json parts.json
    python benchmarks/epoch_parts.py --report parts.json     # its table again

Per epoch, with the device synchronised around each part: *steps* (the ``train_step`` calls,
each waited for here, where the loop itself reads its epoch's losses only at the end), *loop
rest* (the rest of the epoch's loop: batches drawn, clips' captions found), *validation*,
*resume file* (what the loop waits for to write it, to a temporary folder: the whole write on
the CPU; on a GPU the state's copy to host memory and the end of the previous epoch's write,
which a thread does) and *other* (the rest of the epoch). Then one more epoch's steps back to
back, its batches drawn first and no loss read between steps: what the loop's steps take when
nothing waits for the device between them. Only the time means anything on these features.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from atr_bench.data.loading import Splits
from atr_bench.data.shaped import SHAPES, split_sizes
from atr_bench.data.split import SplitData
from atr_bench.perf.step import random_split
from atr_bench.plugins.registry import registry
from atr_bench.run import training
from atr_bench.run.config import RunRequest
from atr_bench.run.execute import build_model, seed_everything
from atr_bench.run.model import DualEncoder
from atr_bench.run.plan import Plan, plan

PARTS = ("steps", "loop rest", "validation", "resume file", "other")


class Timers:
    """Seconds per part of the current epoch, the device synchronised around each."""

    def __init__(self, device: torch.device) -> None:
        self.sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
        self.epochs: list[dict[str, float]] = []

    def timed(self, part: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if part == "epoch":  # the steps, validation and resume file that follow are its
                self.epochs.append(dict.fromkeys(PARTS, 0.0))
            self.sync()
            started = time.perf_counter()
            result = call(*args, **kwargs)
            self.sync()
            current = self.epochs[-1]
            current[part] = current.get(part, 0.0) + time.perf_counter() - started
            return result

        return wrapper


def the_plan(args: argparse.Namespace) -> Plan:
    request = RunRequest(
        dataset=args.dataset,
        extractor="panns_cnn14",
        pooling=args.pooling,
        protocol=args.protocol,
        epochs=args.epochs,
    )
    return plan(request, registry(), Path("data"))  # the dataset is only named, never read


def splits_of(args: argparse.Namespace, the_plan: Plan, device: torch.device) -> Splits:
    shape = SHAPES[args.dataset]
    sizes = split_sizes(shape, args.fraction)
    made = {
        split: random_split(the_plan, sizes[split], shape.captions[split], device)
        for split in ("train", "val")
    }
    return Splits(made["train"], made["val"], made["val"])


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Train ``args.epochs`` epochs with every part timed, then one epoch's steps back to back."""
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    planned = the_plan(args)
    c = planned.config
    splits = splits_of(args, planned, device)
    seed_everything(0)
    model = build_model(planned, splits).to(device)
    timers = Timers(device)
    originals = {name: getattr(training, name) for name in ("_train_epoch", "train_step")}
    originals |= {"evaluate": training.evaluate, "_save_resume": training._save_resume}
    names = {"_train_epoch": "epoch", "train_step": "steps", "evaluate": "validation"}
    names["_save_resume"] = "resume file"
    try:
        for name, call in originals.items():
            setattr(training, name, timers.timed(names[name], call))
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            resume = Path(folder) / "resume.pt"
            training.train(model, splits.train, splits.val, c, planned.protocol, 0, device,
                           resume, progress=False)  # fmt: skip
            whole = time.perf_counter() - started
    finally:
        for name, call in originals.items():
            setattr(training, name, call)
    return {
        "epochs": _parts(timers, whole),
        "steps back to back": _back_to_back(model, splits.train, planned, device),
        "batches": -(-splits.train.n_clips // c.batch_size),
    }


def _parts(timers: Timers, whole: float) -> list[dict[str, float]]:
    """Each epoch's parts; the loop's rest is its epoch less its steps, and ``other`` (the
    best weights kept, the curve logged) is the whole less every epoch's named parts."""
    named = 0.0
    for epoch in timers.epochs:
        epoch["loop rest"] = epoch.pop("epoch") - epoch["steps"]
        named += sum(epoch.values())
    for epoch in timers.epochs:
        epoch["other"] = (whole - named) / len(timers.epochs)
    return timers.epochs


def _back_to_back(
    model: DualEncoder, split: SplitData, planned: Plan, device: torch.device
) -> float:
    """Seconds of one epoch's steps with its batches drawn first and no loss read between."""
    c = planned.config
    optimizer, _ = training.build_optimizer(
        model.parameters(), c.lr, c.weight_decay, c.gamma, planned.protocol.optimizer
    )
    loss_fn = training.loss_function(c)
    draw = training.batching(c.batch_items)
    batches = list(draw(split, torch.Generator().manual_seed(1), c.batch_size, device))
    model.train()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    started = time.perf_counter()
    for batch in batches:
        training.train_step(model, split, batch, optimizer, loss_fn, c, device)
    sync()
    return time.perf_counter() - started


def table(result: dict[str, Any]) -> str:
    """Seconds per part: the first epoch and the median of the later ones."""
    epochs = result["epochs"]
    later = epochs[1:] or epochs
    lines = ["| part | first epoch s | later epochs s (median) |", "| --- | --- | --- |"]
    for part in PARTS:
        median = statistics.median(e[part] for e in later)
        lines.append(f"| {part} | {epochs[0][part]:.3f} | {median:.3f} |")
    total = statistics.median(sum(e.values()) for e in later)
    lines.append(f"| epoch | {sum(epochs[0].values()):.3f} | {total:.3f} |")
    lines.append(
        f"\nOne epoch's {result['batches']} steps back to back, no loss read between them: "
        f"{result['steps back to back']:.3f} s."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dataset", choices=sorted(SHAPES), default="audiocaps")
    parser.add_argument("--fraction", type=float, default=1.0, help="of the real split sizes")
    parser.add_argument("--protocol", default="lou2022")
    parser.add_argument("--pooling", default="netrvlad")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--report", type=Path, help="print the table of a --json file")
    args = parser.parse_args()
    if args.report:
        print(table(json.loads(args.report.read_text())))
        return
    result = measure(args)
    result["settings"] = {k: str(v) for k, v in vars(args).items()}
    if torch.cuda.is_available() and args.device.startswith("cuda"):
        result["gpu"] = torch.cuda.get_device_name()
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))


if __name__ == "__main__":
    main()
