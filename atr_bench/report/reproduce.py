"""The commands that make a board's runs again, from their records: one ``atr-bench sweep`` per
group of rows that differ only in pooling and extractor (dataset, protocol, text side, the
settings a run set away from its protocol's defaults, seeds, and the threads and device the
numbers were made with, so a rerun into the same runs folder is taken as done), one
``atr-bench run`` per zero-shot row (a sweep trains), then the ``atr-bench leaderboard`` call.

A record's ``settings`` name what its request changed, so the flags rebuilt from them resolve
to the same config and the same run id. A setting no flag sets (a protocol field only code can
change, a key of an older record) is listed apart, never dropped silently.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atr_bench.plugins.protocol_settings import SETTINGS
from atr_bench.record.run_record import RunRecord

DEFAULT_RUNS_DIR = Path("runs")
"""``--runs-dir`` when none is given (not repeated in the commands)."""
OPTION_FLAGS = {
    "dataset": "--dataset-opt",
    "extractor": "--extractor-opt",
    "audio_pooling": "--pooling-opt",
    "pooling": "--pooling-opt",  # hand-made and older records name the audio side so
    "text_pooling": "--text-pooling-opt",
    "text_encoder": "--text-encoder-opt",
}
"""A settings key's prefix (``audio_pooling.clusters``) -> the flag that sets that option."""
_NUMERIC = [name for name, option in SETTINGS.items() if option.type in (int, float)]
VALUE_FLAGS = {**{name: "--" + name.replace("_", "-") for name in _NUMERIC}, "loss": "--loss"}
"""Settings given as ``--flag VALUE`` (``cli.run`` makes them from the same description)."""
SWITCHES = {
    ("gate_batch_norm", True): "--gate-batch-norm",
    ("gate_batch_norm", False): "--no-gate-batch-norm",
    ("amp", False): "--no-amp",
}
"""Settings given as a flag of their own."""


@dataclass(frozen=True)
class Reproduction:
    """The commands, in order, and the settings of the runs that no flag sets."""

    commands: tuple[str, ...]
    unsettable: tuple[str, ...] = ()


def _text(value: Any) -> str:
    """A setting's value as the command line spells it (booleans as ``true``/``false``)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def setting_flags(record: RunRecord) -> tuple[list[str], list[str]]:
    """The flags that give ``record``'s settings, and ``key=value`` of those no flag gives."""
    flags: list[str] = []
    unsettable: list[str] = []
    for key, value in sorted((record.settings or {}).items()):
        prefix, dot, option = key.partition(".")
        if dot and prefix in OPTION_FLAGS:
            flags += [OPTION_FLAGS[prefix], f"{option}={_text(value)}"]
        elif key in VALUE_FLAGS:
            flags += [VALUE_FLAGS[key], _text(value)]
        elif (key, value) in SWITCHES:
            flags.append(SWITCHES[key, value])
        elif key == "weights" and isinstance((record.config or {}).get("weights"), str):
            flags += ["--weights", (record.config or {})["weights"]]  # the path it was given
        else:
            unsettable.append(f"{key}={_text(value)}")
    return flags, unsettable


def _execution_flags(record: RunRecord) -> list[str]:
    """``--threads`` and ``--device`` as the record was made: a record made under other ones
    is not taken as done, and the threads change a CPU run's rounding."""
    execution = record.execution or {}
    flags = []
    if execution.get("device") == "cpu" and isinstance(execution.get("threads"), int):
        flags += ["--threads", str(execution["threads"])]
    if execution.get("device") in ("cpu", "cuda"):
        flags += ["--device", execution["device"]]
    return flags


Fixed = tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]
"""What a command gives besides extractor, pooling and seeds: its verb, the flags before the
components, those after them (ending in ``--seeds``) and those after the seeds."""


def _fixed(record: RunRecord, runs_dir: Path) -> Fixed:
    """Everything of a record's command but its extractor, pooling and seeds."""
    settings, _ = setting_flags(record)
    head = ("--dataset", record.dataset, "--protocol", record.protocol_label.partition("@")[0])
    tail = (*_execution_flags(record), *_runs_dir(runs_dir))
    if record.zero_shot:  # tests the dual encoder as it is: no pooling nor text side to give
        return "run", head, (*settings, "--seeds"), tail
    text = []
    if record.text_pooling and record.text_pooling != record.pooling:
        text += ["--text-pooling", record.text_pooling]
    if record.text_encoder:
        text += ["--text-encoder", record.text_encoder]
    return "sweep", head, (*text, *settings, "--seeds"), tail


def _runs_dir(runs_dir: Path) -> list[str]:
    return [] if runs_dir == DEFAULT_RUNS_DIR else ["--runs-dir", str(runs_dir)]


Group = tuple[Fixed, tuple[int, ...]]
"""A command's fixed part and its seeds."""


def _grid(records: Iterable[RunRecord], runs_dir: Path) -> dict[Group, dict[str, list[str]]]:
    """Per command (fixed part and seeds): extractor -> its poolings."""
    seeds: dict[tuple[Fixed, str, str], set[int]] = {}
    for record in records:
        key = (_fixed(record, runs_dir), record.extractor, record.pooling)
        seeds.setdefault(key, set()).add(record.seed)
    grid: dict[Group, dict[str, list[str]]] = {}
    for (fixed, extractor, pooling), chosen in sorted(seeds.items()):
        poolings = grid.setdefault((fixed, tuple(sorted(chosen))), {}).setdefault(extractor, [])
        poolings.append(pooling)
    return grid


def _sweeps(fixed: Fixed, seeds: tuple[int, ...], by_extractor: dict[str, list[str]]) -> list[str]:
    """The commands of one group: a sweep per set of poolings (over the extractors that ran
    them all), a run per extractor for a zero-shot group."""
    verb, head, body, tail = fixed[0], list(fixed[1]), list(fixed[2]), list(fixed[3])
    seed_list = ",".join(map(str, seeds))
    if verb == "run":
        return [
            shlex.join(["atr-bench", "run", *head, "--extractor", e, *body, seed_list, *tail])
            for e in by_extractor
        ]
    same: dict[tuple[str, ...], list[str]] = {}
    for extractor, poolings in by_extractor.items():
        same.setdefault(tuple(poolings), []).append(extractor)
    return [
        shlex.join(
            [
                *("atr-bench", "sweep", *head, "--extractor", ",".join(extractors)),
                *("--pooling", ",".join(poolings), *body, seed_list, *tail),
            ]
        )
        for poolings, extractors in same.items()
    ]


def run_commands(records: Sequence[RunRecord], runs_dir: Path) -> Reproduction:
    """The commands that make ``records`` again, in a stable order, and what no flag of them
    sets."""
    commands: dict[str, None] = {}
    for (fixed, seeds), by_extractor in _grid(records, runs_dir).items():
        commands.update(dict.fromkeys(_sweeps(fixed, seeds, by_extractor)))
    unsettable = {item: None for record in records for item in setting_flags(record)[1]}
    return Reproduction(tuple(commands), tuple(unsettable))


def leaderboard_command(runs_dirs: Sequence[Path], out_dir: Path, flags: Sequence[str] = ()) -> str:
    """The ``atr-bench leaderboard`` call that rebuilds boards from ``runs_dirs`` (runs
    folders and bundles) into ``out_dir``, with the ``flags`` given away from their defaults."""
    sources = [] if list(runs_dirs) == [DEFAULT_RUNS_DIR] else runs_dirs
    given = [part for source in sources for part in ("--runs-dir", str(source))]
    return shlex.join(["atr-bench", "leaderboard", *given, "--out", str(out_dir), *flags])
