"""Time and memory of whole runs at the paper's real shapes: the released code and atr-bench,
one after the other, on the same files.

The data are written by ``atr-bench data shaped`` (random values of the real shapes: only time
and memory mean anything on them). Before each run every file of the data set is read once,
so both programs start with it in the page cache (where it fits). Each run is one process,
measured from outside: its wall
time, its peak resident memory (``wait4``'s ``ru_maxrss``) and its phases (atr-bench: the
record's load/train/test seconds; the released code: its log's timestamps).

    atr-bench data shaped audiocaps --out DATA --train-clips 8000
    python benchmarks/real_scale.py --side released --released CHECKOUT \\
        --released-python RVENV/bin/python --data DATA/AudioCaps --work WORK
    python benchmarks/real_scale.py --side atr --data DATA/AudioCaps --work WORK \\
        --protocol lou2022 --pooling netrvlad
    python benchmarks/real_scale.py --report WORK        # the Markdown tables

The released code (a checkout of SiyuLou/AudioTextRetrievalInContext patched to run on CPU,
see ``leaderboards/parity-lou2022.md``) runs its own ``configs/<dataset>/train-rvlad.json``
with the data root, the epochs and the checkpoint period changed; atr-bench runs
``atr-bench run --dataset audiocaps|clotho --extractor panns_cnn14``. Both get ``--threads``
CPU threads.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import h5py

import atr_bench
from atr_bench.data.layout import SPLITS
from atr_bench.perf.machine import cpu_model

EXTRACTOR = "panns_cnn14"
RELEASED_CONFIG = {"AudioCaps": "AudioCaps", "Clotho": "CLOTHO"}
"""The released code's config folder for each of atr-bench's dataset folders."""
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) - (.*)$")
SAVED = re.compile(r"Done in ([0-9.]+)s")


def describe_data(data: Path) -> dict[str, Any]:
    """Clips and padded frames of each split's features, and their size on disk."""
    splits = {}
    for split in SPLITS:
        path = data / "AudioExpert" / EXTRACTOR / split / f"{EXTRACTOR}.h5"
        with h5py.File(path, "r") as handle:
            shapes = [handle[name].shape for name in handle]
        splits[split] = {
            "clips": len(shapes),
            "max_frames": max(s[0] for s in shapes),
            "dim": shapes[0][1],
            "bytes": path.stat().st_size,
        }
    return {"root": str(data), "dataset": data.name, "splits": splits}


class GpuMemory:
    """The GPU's name and the most memory in use on it while a run lasts (``nvidia-smi``
    polled every half second: the whole GPU's, so run nothing else on it)."""

    def __init__(self) -> None:
        query = ["nvidia-smi", "--query-gpu=name,memory.used", "--format=csv,noheader,nounits"]
        self._poll = subprocess.Popen([*query, "-lms", "500"], stdout=subprocess.PIPE, text=True)
        self.name, self.peak_mib = "", 0

    def stop(self) -> dict[str, Any]:
        self._poll.terminate()
        out, _ = self._poll.communicate()
        for line in out.splitlines():
            name, used = line.rsplit(",", 1)
            self.name, self.peak_mib = name.strip(), max(self.peak_mib, int(used))
        return {"gpu": self.name, "peak_gpu_mib": self.peak_mib}


def warm_page_cache(data: Path) -> None:
    """Read every file of the dataset once, so each run starts with its files in the page
    cache (as the second of two runs on the same files would), whichever side runs first."""
    for path in sorted(p for p in data.rglob("*") if p.is_file()):
        with open(path, "rb") as handle:
            while handle.read(64 << 20):
                pass


def measure(
    command: list[str], cwd: Path, log: Path, env: dict[str, str], gpu: bool = False
) -> dict[str, Any]:
    """Run ``command`` to the end; its wall seconds, start time, peak RSS (bytes) and, with
    ``gpu``, the GPU's name and peak memory."""
    poll = GpuMemory() if gpu else None
    started_at, started = time.time(), time.perf_counter()
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    on_gpu = poll.stop() if poll is not None else {}
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{command[0]} exited with {code}; see {log}")
    return {
        "wall": wall,
        "started_at": started_at,
        "peak_rss": usage.ru_maxrss * 1024,
        "user": usage.ru_utime,
        "system": usage.ru_stime,
        **on_gpu,
    }


def released_phases(log: str, started_at: float, wall: float) -> dict[str, float]:
    """Load (start to its model built), train (its optimiser and trainer built, the epochs,
    validation and checkpoints: what atr-bench's train phase holds, and the checkpoints),
    checkpoints alone and test, from the timestamps of the released code's log lines."""
    stamps = []
    for line in log.splitlines():
        if match := STAMP.match(line):
            when = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            stamps.append((when - started_at, match[2]))

    def first(text: str) -> float:
        return next(t for t, message in stamps if text in message)

    saving = current = 0.0  # its "Done in" counts from the first of an epoch's saves
    for _, message in stamps:
        if "Saving checkpoint" in message:
            saving, current = saving + current, 0.0
        elif done := SAVED.search(message):
            current = max(current, float(done[1]))
    built = first("Net(")  # its model, printed once built; then its optimiser and trainer
    trained = first("Training took")
    return {
        "load": built,
        "train": trained - built,
        "checkpoints": saving + current,
        "test": wall - trained,
    }


def run_released(args: argparse.Namespace, label: str) -> dict[str, Any]:
    folder = RELEASED_CONFIG[args.data.name]
    filtered = args.data / "Index" / "test_filtered.csv"
    if folder == "AudioCaps" and not filtered.exists():  # the name its AudioCaps test reads
        shutil.copyfile(args.data / "Index" / "test.csv", filtered)
    config = {
        "inherit_from": f"configs/{folder}/train-rvlad.json",
        "data_loader": {"root": str(args.data)},
        "trainer": {
            "epochs": args.epochs,
            "save_period": min(args.epochs, 10),
            "tensorboard": False,
            "save_dir": str(args.work / "released-runs"),
        },
    }
    config_path = args.released / "configs" / folder / f"real-scale-{label}.json"
    config_path.write_text(json.dumps(config, indent=2))
    command = [str(args.released_python), "train.py", "--config", str(config_path)]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    log = args.work / f"{label}.log"
    result = measure(command, args.released, log, env)
    info = max((args.work / "released-runs" / "log").glob("*/*/info.log"), key=os.path.getmtime)
    result["phases"] = released_phases(info.read_text(), result["started_at"], result["wall"])
    shown = [*command[1:3], f"configs/{folder}/real-scale-{label}.json"]
    result["command"] = f"cd CHECKOUT && OMP_NUM_THREADS={args.threads} python " + " ".join(shown)
    result["config"] = config
    return result


def run_atr(args: argparse.Namespace, label: str) -> dict[str, Any]:
    runs = args.work / f"runs-{label}"
    command = [
        "atr-bench",
        "run",
        "--dataset",
        args.data.name.lower(),
        "--data-root",
        str(args.data.parent),
        "--extractor",
        EXTRACTOR,
        "--protocol",
        args.protocol,
        "--pooling",
        args.pooling,
        "--epochs",
        str(args.epochs),
        "--threads",
        str(args.threads),
        "--device",
        args.device,
        "--runs-dir",
        str(runs),
        "--no-progress",
        "--force",
        *args.atr_arg,
    ]
    log = args.work / f"{label}.log"
    result = measure(command, Path.cwd(), log, dict(os.environ), args.device == "cuda")
    (record_path,) = runs.glob("*.json")
    record = json.loads(record_path.read_text())
    result["phases"] = dict(record["seconds"])
    result["execution"] = record.get("execution", {})
    result["code"] = checkout_commit(Path(atr_bench.__file__).parent)
    shown = [*command[:4], "--data-root", "DATA", *command[6 : command.index("--runs-dir")]]
    shown += args.atr_arg
    result["command"] = " ".join(shown)
    return result


_QUIET: dict[str, Any] = {"capture_output": True, "text": True, "check": True}
"""``subprocess.run`` settings for git's answers: captured as text, an error on failure."""


def checkout_commit(where: Path) -> str | None:
    """The commit of the git checkout holding ``where``, with ``+modified`` when tracked files
    differ from it; None outside a checkout (an installed package)."""
    git = ["git", "-C", str(where)]
    try:
        head = subprocess.run([*git, "rev-parse", "--short=7", "HEAD"], **_QUIET).stdout.strip()
        changed = subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"], **_QUIET)
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+modified" if changed.stdout.strip() else "")


def run(args: argparse.Namespace) -> None:
    args.work.mkdir(parents=True, exist_ok=True)
    program = "released" if args.side == "released" else f"atr-bench {args.protocol}"
    if args.side == "atr" and args.atr_arg:
        program += " " + " ".join(args.atr_arg)
    pooling = "netrvlad" if args.side == "released" else args.pooling
    data = describe_data(args.data)
    warm_page_cache(args.data)
    clips = data["splits"]["train"]["clips"]
    label = args.label or f"{args.side}-{args.protocol}-{pooling}-{args.data.name}-{clips}"
    result = run_released(args, label) if args.side == "released" else run_atr(args, label)
    entry = {
        "label": label,
        "program": program,
        "pooling": pooling,
        "epochs": args.epochs,
        "threads": args.threads,
        "data": data,
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
        },
        "date": datetime.now().isoformat(timespec="seconds"),
        **result,
    }
    (args.work / f"{label}.json").write_text(json.dumps(entry, indent=2) + "\n")
    print(json.dumps({k: entry[k] for k in ("label", "wall", "peak_rss", "phases")}))


def _data_name(data: dict[str, Any]) -> str:
    s = data["splits"]
    train = s["train"]
    return (
        f"{data['dataset']} {train['clips']:,} / {s['val']['clips']:,} / {s['test']['clips']:,} "
        f"clips, {train['max_frames']} x {train['dim']} ({train['bytes'] / 1e9:.1f} GB train)"
    )


def report(work: Path) -> str:
    """One table per data set: every run on it, and for the released code's pooling and epochs
    on the CPU, the ratio of its training phase and peak RSS to the released code's."""
    entries = [json.loads(p.read_text()) for p in sorted(work.glob("*.json"))]
    by_data: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        by_data.setdefault(_data_name(entry["data"]), []).append(entry)
    lines = []
    for name, group in by_data.items():
        released = next((e for e in group if e["program"] == "released"), None)
        lines += [
            f"### {name}",
            "",
            "| program | pooling | device | epochs | load s | train s (checkpoints) | test s "
            "| wall s | peak RSS GB | peak GPU GiB | train vs released | RSS vs released |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for e in sorted(group, key=lambda e: (e["program"] != "released", e["program"])):
            p = e["phases"]
            saved = f" ({p['checkpoints']:.1f})" if "checkpoints" in p else ""
            ratios = ["", ""]
            comparable = released is not None and (e["epochs"], e["pooling"]) == (
                released["epochs"],
                released["pooling"],
            )
            if comparable and e is not released and not e.get("gpu"):
                assert released is not None
                ratios = [
                    f"{p['train'] / released['phases']['train']:.2f}x",
                    f"{e['peak_rss'] / released['peak_rss']:.2f}x",
                ]
            gpu = f"{e['peak_gpu_mib'] / 1024:.1f}" if "peak_gpu_mib" in e else ""
            lines.append(
                f"| {e['program']} | {e['pooling']} | {e.get('gpu') or 'cpu'} | {e['epochs']} | "
                f"{p['load']:.1f} | {p['train']:.1f}{saved} | {p['test']:.1f} | {e['wall']:.1f} | "
                f"{e['peak_rss'] / 1e9:.2f} | {gpu} | {ratios[0]} | {ratios[1]} |"
            )
        lines.append("")
        machines = sorted({f"{e['machine']['cpu']}, {e['threads']} threads" for e in group})
        commits = sorted({e["code"] for e in group if e.get("code")})
        code = f" atr-bench at {', '.join(commits)}." if commits else ""
        lines += [f"Machine: {'; '.join(machines)}.{code} Commands:", ""]
        lines += [f"- `{e['command']}`" for e in group]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", choices=("released", "atr"))
    parser.add_argument("--report", type=Path, help="print the tables of a work folder")
    parser.add_argument("--data", type=Path, help="the dataset folder (…/AudioCaps, …/Clotho)")
    parser.add_argument("--work", type=Path, help="where logs, runs and results go")
    parser.add_argument("--released", type=Path, help="the released code's checkout")
    parser.add_argument("--released-python", type=Path, default=Path(sys.executable))
    parser.add_argument("--protocol", default="lou2022")
    parser.add_argument("--pooling", default="netrvlad")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="atr-bench's")
    parser.add_argument("--label", default=None, help="the result's name in the work folder")
    parser.add_argument(
        "--atr-arg", action="append", default=[], help="another atr-bench run argument"
    )
    args = parser.parse_args()
    if args.report:
        print(report(args.report))
        return
    if args.side is None or args.data is None or args.work is None:
        parser.error("--side, --data and --work are needed to run")
    if args.side == "released" and args.released is None:
        parser.error("--side released needs --released CHECKOUT")
    args.data, args.work = args.data.resolve(), args.work.resolve()
    run(args)


if __name__ == "__main__":
    main()
