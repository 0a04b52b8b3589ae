"""Parity of ``--protocol lou2022`` with the paper's released code, on the same features.

Runs the authors' ``train.py`` (a checkout of SiyuLou/AudioTextRetrievalInContext, patched only
to run on CPU: see ``leaderboards/parity-lou2022.md``) and ``atr-bench run --protocol lou2022``
on one exported synthcaps dataset, for each pooling and seed, and writes both sides' test
metrics to a JSON file per run; ``--report`` turns them into the Markdown table.

    atr-bench data export --out EXPORT                       # Index, lms features, w2v_*.pkl
    python benchmarks/parity_lou2022.py --side released --released CHECKOUT \\
        --released-python VENV/bin/python --data EXPORT --work WORK
    python benchmarks/parity_lou2022.py --side atr --data EXPORT --work WORK
    python benchmarks/parity_lou2022.py --report WORK > leaderboards/parity-lou2022.md

Both sides read the exported files: the released code through its own CLOTHO loader, atr-bench
through ``--dataset clotho --extractor lms --text-encoder w2v``, so both train on the same
tensors. Each run uses ``--threads`` CPU threads (``OMP_NUM_THREADS`` for the released code).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from scipy.stats import ttest_ind

from atr_bench.report.stats import format_mean_std, mean_std

# The released code's names for atr-bench's poolings.
RELEASED_NAMES = {
    "netrvlad": "rvlad",
    "netvlad": "vlad",
    "mean": "meanP",
    "max": "maxP",
    "lstm": "seqLSTM",
    "transformer": "seqTransf",
}
METRICS = ("R1", "R5", "R10", "MedR")
LMS_DIM = 128
FRAMES = 40
"""synthcaps clips are 4 s of lms at 10 frames/s."""
TRANSFORMER_HEADS = 4
TRANSFORMER_LAYERS = 8
"""The released seqTransf configs' heads and blocks (``cross_num_hidden_layers``)."""


def released_config(
    pooling: str,
    data: Path,
    epochs: int,
    text_lstm_hidden: int | None = None,
    transformer_layers: int = TRANSFORMER_LAYERS,
) -> dict[str, Any]:
    """A config for the released ``train.py`` inheriting its Clotho defaults: lms features,
    ``pooling`` on both sides, w2v text, everything else as the authors shipped it. For the
    poolings the released code never ran on lms it needs the lms sizes its other extractors
    get from their own entries (``hidden_size`` = feature size; ``feat_dims`` for seqLSTM and
    seqTransf; seqTransf's width and positions). ``text_lstm_hidden`` replaces its text LSTM's
    2048 units (``hidden_size.text``). Its seqTransf configs' 4 heads and ``transformer_layers``
    blocks; the width is lms' 128, the only one its code can run on lms (its gated unit takes
    the feature size, not the transformer's); the base config's StepLR, as for every pooling."""
    name = RELEASED_NAMES[pooling]
    lms = {"model": "lms", "flaky": False, "temporal": name, "type": "embed", "binarise": False}
    arch: dict[str, Any] = {"text_agg": name, "hidden_size": {"lms": LMS_DIM}}
    if name in ("seqLSTM", "seqTransf"):
        lms["feat_dims"] = {"embed": LMS_DIM}
    if name == "seqTransf":
        arch["transformer_width"] = {"text": LMS_DIM, "lms": LMS_DIM}
        arch["transformer_heads"] = TRANSFORMER_HEADS
        arch["cross_num_hidden_layers"] = transformer_layers
        arch["max_position_embeddings"] = {"lms": FRAMES}
    if text_lstm_hidden is not None:
        arch["hidden_size"]["text"] = text_lstm_hidden
    return {
        "inherit_from": "configs/data_loader_clotho.json",
        "experts": {"modalities": ["lms"]},
        "arch": {"args": arch},
        "data_loader": {
            "root": str(data / "SynthCaps"),
            "dataset": "CLOTHO",
            "num_test_captions": 5,
            "max_words": 20,
            "audio_padding_length": {"lms": FRAMES},
            "args": {"feat_aggregation": {"lms": lms}},
        },
        "trainer": {"epochs": epochs, "save_period": min(epochs, 10), "tensorboard": False},
    }


def atr_options(
    pooling: str, text_lstm_hidden: int | None, transformer_layers: int
) -> tuple[dict[str, int], dict[str, int]]:
    """The audio and text pooling options atr-bench's side gets beyond ``lou2022``'s own: the
    text LSTM's width where it is changed, and the transformer's width and blocks as
    ``released_config`` sets them."""
    audio: dict[str, int] = {}
    text: dict[str, int] = {}
    if pooling == "lstm" and text_lstm_hidden is not None:
        text["hidden"] = text_lstm_hidden
    if pooling == "transformer":
        audio = {"d_model": LMS_DIM, "layers": transformer_layers}
        text = dict(audio)
    return audio, text


TEST_LINE = re.compile(r"test_(t2a|a2t)_metrics_(\w+)\s*:\s*([-0-9.eE+]+)")


def parse_released(log: str) -> dict[str, dict[str, float]]:
    """The final test metrics from a released ``train.py`` log."""
    test: dict[str, dict[str, float]] = {"t2a": {}, "a2t": {}}
    for direction, metric, value in TEST_LINE.findall(log):
        test[direction][metric] = float(value)
    if not test["t2a"]:
        raise RuntimeError("no test metrics in the released code's log")
    return test


def link_clotho(data: Path) -> None:
    """The export names the dataset folder SynthCaps; atr-bench's clotho reads Clotho."""
    clotho = data / "Clotho"
    if not clotho.exists():
        clotho.symlink_to("SynthCaps")


def run_released(args: argparse.Namespace, pooling: str, seed: int) -> dict[str, Any]:
    work = args.work / "released"
    work.mkdir(parents=True, exist_ok=True)
    config_path = args.released / "configs" / f"parity-{pooling}.json"
    config = released_config(
        pooling, args.data, args.epochs, args.text_lstm_hidden, args.transformer_layers
    )
    config_path.write_text(json.dumps(config, indent=2))
    command = [
        str(args.released_python),
        "train.py",
        "--config",
        str(config_path.relative_to(args.released)),
        "--group_id",
        f"parity-{pooling}",
        "--group_seed",
        str(seed),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=args.released, env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    log = done.stdout + done.stderr
    (work / f"{pooling}-s{seed}.log").write_text(log)
    if done.returncode != 0:
        raise RuntimeError(f"released {pooling} seed {seed} failed:\n{log[-2000:]}")
    return {"test": parse_released(log), "seconds": seconds, "command": " ".join(command)}


def run_atr(args: argparse.Namespace, pooling: str, seed: int) -> dict[str, Any]:
    work = args.work / "atr"
    runs = work / "runs"
    command = [
        "atr-bench",
        "run",
        "--protocol",
        "lou2022",
        "--dataset",
        "clotho",
        "--extractor",
        "lms",
        "--text-encoder",
        "w2v",
        "--audio-frames",
        str(FRAMES),
        "--pooling",
        pooling,
        "--seeds",
        str(seed),
        "--epochs",
        str(args.epochs),
        "--threads",
        str(args.threads),
        "--data-root",
        str(args.data),
        "--runs-dir",
        str(runs),
        "--no-progress",
        "--force",
    ]
    audio_opts, text_opts = atr_options(pooling, args.text_lstm_hidden, args.transformer_layers)
    for flag, opts in (("--pooling-opt", audio_opts), ("--text-pooling-opt", text_opts)):
        for key, value in opts.items():
            command += [flag, f"{key}={value}"]
    link_clotho(args.data)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    log = done.stdout + done.stderr
    work.mkdir(parents=True, exist_ok=True)
    (work / f"{pooling}-s{seed}.log").write_text(log)
    if done.returncode != 0:
        raise RuntimeError(f"atr-bench {pooling} seed {seed} failed:\n{log[-2000:]}")
    path = re.search(r"wrote (\S+\.json)", log)
    if path is None:
        raise RuntimeError(f"atr-bench {pooling} seed {seed}: no record written:\n{log[-2000:]}")
    record = json.loads(Path(path.group(1)).read_text())
    return {
        "test": record["test"],
        "seconds": seconds,
        "train_seconds": record["seconds"]["train"],
        "best_epoch": record["best_epoch"],
        "command": " ".join(command),
    }


def run_one(args: argparse.Namespace, side: str, pooling: str, seed: int) -> str:
    out = args.work / "results" / f"{side}-{pooling}-s{seed}.json"
    if out.exists():
        return f"{out.name}: already done"
    result = (run_released if side == "released" else run_atr)(args, pooling, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"side": side, "pooling": pooling, "seed": seed, **result}))
    tmp.replace(out)
    t2a = result["test"]["t2a"]
    return f"{out.name}: t2a R@1 {t2a['R1']:.1f} R@10 {t2a['R10']:.1f} in {result['seconds']:.0f} s"


def report(work: Path, seeds: set[int] | None = None) -> str:
    """Markdown: per pooling, both sides' mean ± std over ``seeds`` (default: all), and the
    target check."""
    results = [json.loads(p.read_text()) for p in sorted((work / "results").glob("*.json"))]
    results = [r for r in results if seeds is None or r["seed"] in seeds]
    poolings = [p for p in RELEASED_NAMES if any(r["pooling"] == p for r in results)]
    head = "| pooling | side | seeds | " + " | ".join(
        f"{d} {m}" for d in ("t2a", "a2t") for m in METRICS
    )
    lines = [head + " | run time (s) |", "|" + " --- |" * (4 + 2 * len(METRICS))]
    verdicts = []
    for pooling in poolings:
        sides = {}
        for side in ("released", "atr"):
            rows = [r for r in results if r["pooling"] == pooling and r["side"] == side]
            if not rows:
                continue
            seed_list = ",".join(str(r["seed"]) for r in sorted(rows, key=lambda r: r["seed"]))
            cells = []
            for d in ("t2a", "a2t"):
                for m in METRICS:
                    mean, std = mean_std([r["test"][d][m] for r in rows])
                    cells.append(format_mean_std(mean, std))
            seconds = mean_std([r["seconds"] for r in rows])[0]
            label = "released code" if side == "released" else "atr-bench lou2022"
            lines.append(
                f"| {pooling} | {label} | {seed_list} | "
                + " | ".join(cells)
                + f" | {seconds:.0f} |"
            )
            sides[side] = rows
        if len(sides) == 2:
            verdicts.append(_verdict(pooling, sides["released"], sides["atr"]))
    return "\n".join(lines) + "\n\n" + "\n".join(verdicts) + "\n"


def _verdict(pooling: str, released: list[dict], atr: list[dict]) -> str:
    parts = []
    for metric in ("R1", "R10"):
        theirs = [r["test"]["t2a"][metric] for r in released]
        ours = [r["test"]["t2a"][metric] for r in atr]
        (a, sa), (b, sb) = mean_std(theirs), mean_std(ours)
        bound = max(1.0, sa, sb)
        ok = "within" if abs(a - b) <= bound else "OUTSIDE"
        # the two sides' seeds are independent draws: Welch's t-test on the per-seed scores
        welch = ttest_ind(ours, theirs, equal_var=False)
        parts.append(
            f"t2a {metric} differs by {b - a:+.1f} ({ok} the bound {bound:.1f}; "
            f"Welch p = {welch.pvalue:.2f})"
        )
    return f"- {pooling}: " + "; ".join(parts)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--side", choices=("released", "atr", "both"), default="both")
    p.add_argument("--released", type=Path, help="checkout of the released code (patched)")
    p.add_argument("--released-python", type=Path, default=Path(sys.executable))
    p.add_argument("--data", type=Path, help="the root `atr-bench data export --out` wrote")
    p.add_argument("--work", type=Path, required=False, help="logs and per-run results")
    p.add_argument("--poolings", default=",".join(RELEASED_NAMES))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--jobs", type=int, default=2, help="runs at once")
    p.add_argument(
        "--text-lstm-hidden",
        type=int,
        help="the text LSTM's width on both sides instead of the paper's 2048 (a config value "
        "of the released code, a text pooling option of atr-bench)",
    )
    p.add_argument(
        "--transformer-layers",
        type=int,
        default=TRANSFORMER_LAYERS,
        help="transformer blocks on both sides (the released configs' 8)",
    )
    p.add_argument(
        "--report", type=Path, help="print the Markdown tables of a work folder (--seeds: those)"
    )
    args = p.parse_args()
    args.seeds_given = any(a.startswith("--seeds") for a in sys.argv[1:])
    if args.report:
        seeds = {int(s) for s in args.seeds.split(",")} if args.seeds_given else None
        print(report(args.report, seeds), end="")
        return 0
    args.data, args.work = args.data.resolve(), args.work.resolve()
    if args.released:
        args.released = args.released.resolve()
    sides = ("released", "atr") if args.side == "both" else (args.side,)
    jobs = [
        (side, pooling, int(seed))
        for side in sides
        for pooling in args.poolings.split(",")
        for seed in args.seeds.split(",")
    ]
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(run_one, args, *job) for job in jobs]
        failed = 0
        for future in futures:
            try:
                print(future.result(), flush=True)
            except RuntimeError as exc:
                failed += 1
                print(exc, file=sys.stderr, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
