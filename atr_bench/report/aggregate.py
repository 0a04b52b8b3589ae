"""Run records -> board rows: grouped per (dataset, protocol, test set), averaged over seeds,
ranked.

One board per dataset, protocol and test set (a board never mixes two protocols, two test sets,
or smoke-sized runs with full ones), one row per
(extractor, pooling, text pooling, text encoder, protocol hash): runs that differ in anything but
the seed and the device are never averaged together.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from atr_bench.files.names import NAME_RULE, is_name
from atr_bench.record.metric_names import DIRECTIONS
from atr_bench.record.ranks import QueryRanks
from atr_bench.record.run_record import RunRecord
from atr_bench.report.chance import above_chance, captions_from_sizes, chance_levels
from atr_bench.report.code_label import code_label
from atr_bench.report.columns import (
    BOARD_METRICS,
    DEFINITION_COLUMNS,
    HASH_CHARS,
    ORDER_COLUMN,
    STAT_COLUMNS,
)
from atr_bench.report.one_line import one_line
from atr_bench.report.stats import Stat
from atr_bench.report.test_sets import smoke_reasons, test_digest, test_label

GROUP_KEYS = ("extractor", "pooling", "text_pooling", "text_encoder", "protocol_hash")
UNSET = {"text_pooling": "(as audio)", "text_encoder": "(default)"}


@dataclass
class BoardRow:
    """One measured group: its component names, seeds, metric statistics, best columns."""

    keys: dict[str, str]
    seeds: list[int]
    stats: dict[str, Stat]
    """Keyed by the stat and definition columns' keys (``t2a_R1``, ..., ``order_acc``,
    ``t2a_R1_hits``, ...)."""
    devices: set[str]
    best: set[str] = field(default_factory=set)
    settings: str = ""
    """What the runs set away from the protocol's defaults (``audio_pooling.readout=...``)."""
    ranks: list[QueryRanks] | None = None
    """Per seed, the test split's per-query ranks (None unless every seed kept them)."""
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    """95 % intervals of some stat columns (``significance``)."""
    interval_method: str | None = None
    """What the intervals resample (``significance.INTERVAL_METHODS``)."""
    near_best: bool = False
    """Not significantly below the best row's t2a R@1."""
    chance: dict[str, float] = field(default_factory=dict)
    """What a random ranking of the row's test split scores, per stat column where chance
    matters (``chance.chance_levels``); empty when the records do not say the split's size."""
    parameters: int | None = None
    train_seconds: Stat = field(default_factory=lambda: Stat.of([]))
    val_curves: list[tuple[dict[str, Any], ...]] = field(default_factory=list)
    """Per seed, the validation curve (``RunRecord.val_curve``)."""
    unsound: list[str] = field(default_factory=list)
    """Soundness checks its poolings failed (``RunRecord.unsound``): such a row is marked,
    listed after the sound ones and never marked best."""
    code: str = ""
    """The components' distributions, versions and code digest (``code_label``); "" for
    records from before it was recorded."""
    zero_shot: bool = False
    """A pretrained dual encoder tested as it is: nothing trained under the board's protocol."""
    runs: list[RunRecord] = field(default_factory=list)
    """The records behind the row, one per seed in seed order: its provenance."""
    sources: list[str] = field(default_factory=list)
    """Where the row's runs were read from (``sources``: runs folders, bundles by name), when
    the board was made from several or from a bundle; empty otherwise."""

    @property
    def name(self) -> str:
        """The row as a figure's legend names it: components and the hash prefix."""
        k = self.keys
        text = "" if k["text_pooling"] == UNSET["text_pooling"] else f"+{k['text_pooling']}"
        return f"{k['extractor']}/{k['pooling']}{text} {k['protocol_hash'][:HASH_CHARS]}"


@dataclass(frozen=True)
class Board:
    """One leaderboard: a dataset under one protocol, on one test set, full or smoke-sized."""

    dataset: str
    protocol: str
    test_set: str = ""
    """The test split's digest; empty for records older than split digests."""
    smoke: bool = False
    test_label: str = field(default="", compare=False)
    """The test set in words (canonical coverage, or size); not part of the board's key."""

    @property
    def stem(self) -> str:
        """The files' name: ``<dataset>-<protocol>``, with ``-v<N>`` past version 1, then
        ``-test-<digest prefix>`` and ``-smoke`` where they apply."""
        name, _, version = self.protocol.partition("@")
        stem = f"{self.dataset}-{name}" + ("" if version == "1" else f"-v{version}")
        stem += f"-test-{self.test_set[:8]}" if self.test_set else ""
        return stem + ("-smoke" if self.smoke else "")

    @property
    def title(self) -> str:
        title = f"{self.dataset}, protocol {self.protocol}"
        if self.test_set:
            title += f", test set {self.test_set[:8]} ({self.test_label})"
        return title + (", smoke-sized runs" if self.smoke else "")


def unusable(record: RunRecord) -> str | None:
    """Why a schema-valid record cannot enter a leaderboard, or None."""
    if record.protocol_hash is None:
        return "run record has no protocol_hash"
    names = [record.dataset, record.protocol_label.partition("@")[0]]
    names += [record.extractor or "x", record.pooling or "x", record.text_pooling or "x"]
    if not all(is_name(name) for name in names):
        return f"run record names a dataset, protocol or component that is not a name ({NAME_RULE})"
    for direction in DIRECTIONS:
        for metric in BOARD_METRICS:
            if metric not in record.test[direction]:
                return f"run record has no numeric test {direction} {metric}"
    return None


def by_board(records: Iterable[RunRecord]) -> dict[Board, list[RunRecord]]:
    """Records grouped per (dataset, protocol, test set, smoke-sized or not), in the order
    given. A zero-shot record (nothing trained, so no training protocol) joins every board of
    trained records on its test set, beside them; a board of its own where there is none."""
    boards: dict[Board, list[RunRecord]] = {}
    zero_shot: dict[Board, list[RunRecord]] = {}
    for record in records:
        board = Board(
            record.dataset,
            record.protocol_label,
            test_digest(record),
            bool(smoke_reasons(record)),
            test_label(record),
        )
        (zero_shot if record.zero_shot else boards).setdefault(board, []).append(record)
    for own, shots in zero_shot.items():
        joined = [b for b in boards if _same_test(b, own) and b.test_set]
        for board in joined or [own]:
            boards.setdefault(board, []).extend(shots)
    return boards


def _same_test(a: Board, b: Board) -> bool:
    return (a.dataset, a.test_set, a.smoke) == (b.dataset, b.test_set, b.smoke)


def _stat(runs: Sequence[RunRecord], column: str) -> Stat:
    """The column's mean and std over the runs; not measured (a dash) when some run's record
    lacks the metric (another definition, recorded before schema 4)."""
    if column == ORDER_COLUMN.key:
        return Stat.of([r.order_contrast.accuracy for r in runs if r.order_contrast is not None])
    direction, _, metric = column.partition("_")
    present = [r.test[direction][metric] for r in runs if metric in r.test[direction]]
    return Stat.of(present if len(present) == len(runs) else [])


def _device(record: RunRecord) -> str | None:
    """The record's device in words, with the CPU's vector instruction set where its
    ``execution`` names it: rows made on two instruction sets can differ by rounding alone."""
    cpu = (record.execution or {}).get("cpu")
    if record.device and isinstance(cpu, str) and cpu and record.device.endswith(")"):
        return one_line(f"{record.device[:-1]}, {cpu})")
    return one_line(record.device) if record.device else None


def aggregate(
    records: Sequence[RunRecord],
    ranks: Mapping[str, QueryRanks] | None = None,
    origins: Mapping[str, Sequence[str]] | None = None,
) -> list[BoardRow]:
    """Group one board's records, average over seeds, sort, and mark the best values;
    ``ranks`` (by run id) are the per-query ranks of the records that kept theirs, ``origins``
    (by run id) the sources each run was found in."""
    ranks, origins = ranks or {}, origins or {}
    groups: dict[tuple[str, ...], dict[int, RunRecord]] = {}
    for record in sorted(records, key=lambda r: r.created or ""):
        key = tuple(str(getattr(record, k) or "") for k in GROUP_KEYS)
        groups.setdefault(key, {})[record.seed] = record  # a re-run seed counts once (latest)
    rows = []
    for key, seeds in groups.items():
        runs = list(seeds.values())
        stats = {c.key: _stat(runs, c.key) for c in (*STAT_COLUMNS, *DEFINITION_COLUMNS)}
        keys = {k: v or UNSET.get(k, "") for k, v in zip(GROUP_KEYS, key, strict=True)}
        devices = {device for device in map(_device, runs) if device}
        row = BoardRow(keys, sorted(seeds), stats, devices, settings=_settings(runs))
        row.runs = [seeds[seed] for seed in row.seeds]
        if all(r.run_id in ranks for r in runs):
            row.ranks = [ranks[str(r.run_id)] for r in runs]
        row.parameters = runs[-1].parameters
        row.val_curves = [r.val_curve for r in runs]
        row.code = code_label(runs[-1].plugins)  # one hash, so one code
        row.unsound = _unsound(runs)
        row.zero_shot = bool(runs[-1].zero_shot)
        row.sources = sorted({s for r in runs for s in origins.get(str(r.run_id), ())})
        row.train_seconds = Stat.of([r.seconds.train for r in runs if r.seconds is not None])
        definitions = any(stats[c.key].n > 0 for c in DEFINITION_COLUMNS)
        row.chance = chance_levels(_captions_per_clip(runs[-1], row.ranks), definitions)
        rows.append(row)
    rows.sort(
        key=lambda row: (
            bool(row.unsound),
            -row.stats["t2a_R1"].mean,
            -row.stats["a2t_R1"].mean,
            tuple(row.keys.values()),
        )
    )
    return rows


def _captions_per_clip(record: RunRecord, ranks: Sequence[QueryRanks] | None) -> list[int]:
    """How many captions each test clip held: from the kept ranks when there are some, else
    spread evenly from the record's split sizes; empty when neither says."""
    if ranks:
        return [int(c) for c in np.bincount(ranks[0].caption_clip, minlength=ranks[0].n_clips)]
    return captions_from_sizes(record.sizes, "test")


def _unsound(runs: Sequence[RunRecord]) -> list[str]:
    """The soundness checks any of a group's runs failed, by name."""
    return sorted(
        {check for r in runs for checks in (r.unsound or {}).values() for check in checks}
    )


def _settings(runs: Sequence[RunRecord]) -> str:
    """``key=value, ...`` of a group's settings (one hash, so one set; older records: none)."""
    settings = runs[-1].settings
    if settings is None:
        return ""
    return one_line(", ".join(f"{key}={value}" for key, value in sorted(settings.items())))


def mark_best(rows: Sequence[BoardRow]) -> None:
    """Flag, per column, the rows whose displayed mean is the best of all measured rows (ties
    all flagged) when they can be best: two seeds or more (one seed has no spread to judge it
    by) and, where chance matters, clearly above chance (``chance.above_chance``, which reads
    the intervals, so this runs after ``significance.mark_significance``). A column whose best
    value is a row that cannot be best has no bold. Unsound rows (``--allow-unsound``) take
    no part: never bold, and their numbers set no best."""
    for column in (*STAT_COLUMNS, *DEFINITION_COLUMNS):
        measured = [row for row in rows if row.stats[column.key].n > 0 and not row.unsound]
        if len(measured) < 2:
            continue
        shown = [row.stats[column.key].shown for row in measured]
        best = min(shown) if column.lower_is_better else max(shown)
        for row in measured:
            if row.stats[column.key].shown == best and _can_be_best(row, column.key):
                row.best.add(column.key)


def _can_be_best(row: BoardRow, key: str) -> bool:
    stat = row.stats[key]
    if stat.n < 2:
        return False
    chance = row.chance.get(key)
    return chance is None or above_chance(stat, chance, row.intervals.get(key))
