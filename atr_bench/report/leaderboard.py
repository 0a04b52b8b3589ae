"""Leaderboards: run records aggregated over seeds into ``<dataset>-<protocol>.{md,csv,tex,png}``.

One board per dataset and protocol (a board never mixes two protocols), one row per
(extractor, pooling, text pooling, text encoder, protocol hash): runs that differ in anything but
the seed and the device are never averaged together. Published numbers are shown below the
measured rows as quoted, not re-run, and take no part in ranking or best marking.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from tabulate import tabulate

from atr_bench.errors import AtrBenchError
from atr_bench.files.atomic import atomic_write
from atr_bench.files.names import NAME_RULE, check_name, inside, is_name
from atr_bench.record.results import DIRECTIONS, Problem, mean_std, read_records
from atr_bench.report.reference import reference_rows
from atr_bench.run.config import DEFAULT_PROTOCOL

FORMATS = ("md", "csv", "tex", "png")
GROUP_KEYS = ("extractor", "pooling", "text_pooling", "text_encoder", "protocol_hash")
BOARD_METRICS = ("R1", "R5", "R10", "mAP10", "MedR")
LOWER_IS_BETTER = frozenset({"MedR"})
ORDER = "order_acc"
HASH_CHARS = 8
DIGITS = 1
METRIC_LABELS = {"R1": "R@1", "R5": "R@5", "R10": "R@10", "mAP10": "mAP@10", "MedR": "MedR"}
KEY_LABELS = {
    "extractor": "extractor",
    "pooling": "pooling",
    "text_pooling": "text pooling",
    "text_encoder": "text encoder",
    "protocol_hash": "hash",
    "settings": "settings",
    "seeds": "seeds",
}
UNSET = {"text_pooling": "(as audio)", "text_encoder": "(default)"}
QUOTED = "quoted, not re-run"


@dataclass(frozen=True)
class Stat:
    """Mean and sample std of one metric over ``n`` seeds (``n == 0``: not measured)."""

    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat:
        if not values:
            return cls(math.nan, math.nan, 0)
        mean, std = mean_std(values)
        return cls(mean, std, len(values))

    def text(self, pm: str = " ± ") -> str:
        if self.n == 0:
            return "–"
        if self.n == 1:
            return f"{self.mean:.{DIGITS}f}"
        return f"{self.mean:.{DIGITS}f}{pm}{self.std:.{DIGITS}f}"


@dataclass
class BoardRow:
    """One measured group: its component names, seeds, metric statistics, best columns."""

    keys: dict[str, str]
    seeds: list[int]
    stats: dict[str, Stat]
    devices: set[str]
    best: set[str] = field(default_factory=set)
    settings: str = ""
    """What the runs set away from the protocol's defaults (``pooling.readout=...``)."""


LEGACY_PROTOCOL = "pairs@1"
"""The protocol of records written before protocols were named (their settings are pairs')."""


def protocol_label(record: dict[str, Any]) -> str:
    """``name@version`` of a record's protocol."""
    protocol = record.get("protocol")
    if not isinstance(protocol, dict):
        return LEGACY_PROTOCOL
    return f"{protocol.get('name')}@{protocol.get('version')}"


@dataclass(frozen=True)
class Board:
    """One leaderboard: a dataset under one protocol."""

    dataset: str
    protocol: str

    @property
    def stem(self) -> str:
        """The files' name: ``<dataset>-<protocol>``, with ``-v<N>`` past version 1."""
        name, _, version = self.protocol.partition("@")
        return f"{self.dataset}-{name}" + ("" if version == "1" else f"-v{version}")

    @property
    def title(self) -> str:
        return f"{self.dataset}, protocol {self.protocol}"


@dataclass(frozen=True)
class LeaderboardReport:
    """What ``build_leaderboards`` read, left out and wrote."""

    out_dir: Path
    boards: dict[str, int]
    records_used: int
    untrained_excluded: int
    problems: tuple[Problem, ...]
    written: tuple[Path, ...]

    def lines(self) -> list[str]:
        """Human-readable summary, one line per board, exclusion and problem."""
        out = []
        for stem, rows in self.boards.items():
            files = sorted(p.name for p in self.written if p.stem == stem)
            out.append(f"{stem}: {rows} measured rows -> {self.out_dir}/{{{','.join(files)}}}")
        if not self.boards:
            out.append("no leaderboard written: no usable run records")
        out.append(f"{self.records_used} run records used")
        if self.untrained_excluded:
            out.append(f"{self.untrained_excluded} untrained (--weights random) records excluded")
        out.extend(f"skipped {p.path}: {p.reason}" for p in self.problems)
        return out


def build_leaderboards(
    runs_dir: Path,
    out_dir: Path,
    datasets: Iterable[str] | None = None,
    formats: Iterable[str] = FORMATS,
    *,
    command: str | None = None,
) -> LeaderboardReport:
    """Aggregate every record under ``runs_dir`` into per-dataset leaderboards in ``out_dir``.

    ``command`` (the shell command that reproduces the files) heads each file; by default it
    is the ``atr-bench leaderboard`` call that rebuilds them from the same records.
    """
    runs_dir, out_dir = Path(runs_dir), Path(out_dir)
    formats = tuple(dict.fromkeys(formats))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise AtrBenchError(
            f"--format {','.join(unknown)}: unknown leaderboard format; choose from "
            f"{','.join(FORMATS)}"
        )
    if not runs_dir.is_dir():
        raise AtrBenchError(f"{runs_dir}: no such runs directory; run `atr-bench run` first")
    command = command or f"atr-bench leaderboard --runs-dir {runs_dir} --out {out_dir}"
    records, read_problems = read_records(runs_dir)
    problems = list(read_problems)
    wanted = None
    if datasets is not None:
        wanted = [check_name(name, "--dataset") for name in dict.fromkeys(datasets)]
    usable, untrained = [], 0
    for record in records:
        if wanted is not None and record.get("dataset") not in wanted:
            continue
        reason = _unusable(record)
        if record.get("untrained"):
            untrained += 1
        elif reason:
            problems.append(Problem(runs_dir / f"{record.get('run_id', '?')}.json", reason))
        else:
            usable.append(record)
    by_board: dict[Board, list[dict[str, Any]]] = {}
    for record in usable:
        by_board.setdefault(Board(record["dataset"], protocol_label(record)), []).append(record)
    for dataset in wanted or ():  # asked for but without records: its quoted rows alone
        if not any(board.dataset == dataset for board in by_board):
            if reference_rows(dataset).empty:
                known = sorted({r["dataset"] for r in records}) or ["none"]
                raise AtrBenchError(
                    f"--dataset {dataset}: no run records of it in {runs_dir} and no published "
                    f"results to quote; datasets with records: {', '.join(known)}"
                )
            by_board[Board(dataset, f"{DEFAULT_PROTOCOL}@1")] = []
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    boards, written = {}, []
    for board in sorted(by_board, key=lambda b: (b.dataset, b.protocol)):
        rows = aggregate(by_board[board])
        machines = sorted({d for row in rows for d in row.devices})
        header = (
            f"reproduce with: {command} | generated {stamp} | machines: "
            f"{'; '.join(machines) or 'none'}"
        )
        ref = reference_rows(board.dataset)
        written += _write_board(board, rows, ref, header, out_dir, formats)
        boards[board.stem] = len(rows)
    return LeaderboardReport(
        out_dir=out_dir,
        boards=boards,
        records_used=len(usable),
        untrained_excluded=untrained,
        problems=tuple(problems),
        written=tuple(written),
    )


def _unusable(record: dict[str, Any]) -> str | None:
    """Why a schema-valid record cannot enter a leaderboard, or None."""
    for key in ("dataset", "extractor", "pooling", "protocol_hash", "seed"):
        if record.get(key) is None:
            return f"run record has no {key}"
    names = [record["dataset"], protocol_label(record).partition("@")[0]]
    names += [record.get(key) or "x" for key in ("extractor", "pooling", "text_pooling")]
    if not all(is_name(name) for name in names):
        return f"run record names a dataset, protocol or component that is not a name ({NAME_RULE})"
    for direction in DIRECTIONS:
        for metric in BOARD_METRICS:
            value = record["test"][direction].get(metric)
            if not isinstance(value, int | float) or isinstance(value, bool):
                return f"run record has no numeric test {direction} {metric}"
    return None


def aggregate(records: Sequence[dict[str, Any]]) -> list[BoardRow]:
    """Group one dataset's records, average over seeds, sort, and mark the best values."""
    groups: dict[tuple[str, ...], dict[int, dict[str, Any]]] = {}
    for record in sorted(records, key=lambda r: str(r.get("created", ""))):
        key = tuple(str(record.get(k)) if record.get(k) is not None else "" for k in GROUP_KEYS)
        groups.setdefault(key, {})[record["seed"]] = record  # a re-run seed counts once (latest)
    rows = []
    for key, by_seed in groups.items():
        runs = list(by_seed.values())
        stats = {
            f"{d}_{m}": Stat.of([r["test"][d][m] for r in runs])
            for d in DIRECTIONS
            for m in BOARD_METRICS
        }
        stats[ORDER] = Stat.of(
            [
                r["order_contrast"]["accuracy"]
                for r in runs
                if isinstance(r.get("order_contrast"), dict)
                and isinstance(r["order_contrast"].get("accuracy"), int | float)
            ]
        )
        keys = {k: v or UNSET.get(k, "") for k, v in zip(GROUP_KEYS, key, strict=True)}
        devices = {str(r["device"]) for r in runs if r.get("device")}
        rows.append(BoardRow(keys, sorted(by_seed), stats, devices, settings=_settings(runs)))
    rows.sort(
        key=lambda row: (
            -row.stats["t2a_R1"].mean,
            -row.stats["a2t_R1"].mean,
            tuple(row.keys.values()),
        )
    )
    _mark_best(rows)
    return rows


def _settings(runs: Sequence[dict[str, Any]]) -> str:
    """``key=value, ...`` of a group's settings (one hash, so one set; older records: none)."""
    settings = runs[-1].get("settings")
    if not isinstance(settings, dict):
        return ""
    return ", ".join(f"{key}={value}" for key, value in sorted(settings.items()))


def _mark_best(rows: Sequence[BoardRow]) -> None:
    """Flag, per column, the rows whose displayed mean is the best one (ties all flagged)."""
    if len(rows) < 2:
        return
    for column in rows[0].stats:
        shown = [round(row.stats[column].mean, DIGITS) for row in rows if row.stats[column].n > 0]
        if not shown:
            continue
        best = min(shown) if column.endswith(tuple(LOWER_IS_BETTER)) else max(shown)
        for row in rows:
            stat = row.stats[column]
            if stat.n > 0 and round(stat.mean, DIGITS) == best:
                row.best.add(column)


def _columns(rows: Sequence[BoardRow]) -> list[tuple[str, str]]:
    """(stat column, display label) of the metric columns shown for these rows."""
    columns = [(f"{d}_{m}", f"{d} {METRIC_LABELS[m]}") for d in DIRECTIONS for m in BOARD_METRICS]
    if any(row.stats[ORDER].n > 0 for row in rows):
        columns.append((ORDER, "order acc."))
    return columns


def _md_cell(text: str) -> str:
    """A Markdown table cell: a ``|`` or a line break in a value cannot split the row."""
    return text.replace("\r", " ").replace("\n", " ").replace("|", "\\|")


def _measured_table(rows: Sequence[BoardRow], style: str) -> tuple[list[str], list[list[str]]]:
    """Headers and cells of the measured rows; ``style`` is "md" or "tex"."""
    columns = _columns(rows)
    labels = [KEY_LABELS[k] for k in (*GROUP_KEYS, "settings", "seeds")]
    headers = labels + [label for _, label in columns]
    body = []
    for row in rows:
        keys = dict(row.keys, protocol_hash=row.keys["protocol_hash"][:HASH_CHARS])
        cells = [keys[k] for k in GROUP_KEYS] + [row.settings or "–", str(len(row.seeds))]
        if style == "md":
            cells = [_md_cell(c) for c in cells]
        for column, _ in columns:
            text = row.stats[column].text(" ± " if style == "md" else r" $\pm$ ")
            if column in row.best:
                text = f"**{text}**" if style == "md" else rf"\textbf{{{text}}}"
            cells.append(text)
        body.append(cells)
    if style == "tex":
        headers = [_tex_escape(h) for h in headers]
        named = len(GROUP_KEYS) + 1  # the components, the hash and the settings
        body = [
            [_tex_escape(c) for c in r[:named]] + [c.replace("–", "--") for c in r[named:]]
            for r in body
        ]
    return headers, body


def _sources(ref: pd.DataFrame) -> dict[tuple[str, str, str], int]:
    """Each distinct (source, url, note) of the quoted rows and its footnote number."""
    keys = zip(ref["source"], ref["url"], ref["note"], strict=True)
    return {key: i for i, key in enumerate(dict.fromkeys(keys), start=1)}


def _reference_table(ref: pd.DataFrame, style: str) -> tuple[list[str], list[list[str]]]:
    """Headers and cells of the quoted rows, in the measured table's metric columns."""
    pm = " ± " if style == "md" else r" $\pm$ "
    columns = [(f"{d}_{m}", f"{d} {METRIC_LABELS[m]}") for d in DIRECTIONS for m in BOARD_METRICS]
    headers = ["system", "extractor", "pooling", "text encoder", "source"] + [
        label for _, label in columns
    ]
    numbers = _sources(ref)
    body = []
    for _, row in ref.iterrows():
        cells = [str(row[k]) for k in ("system", "extractor", "pooling", "text_encoder")]
        if style == "tex":
            cells = [_tex_escape(c) for c in cells]
        cells.append(f"[{numbers[(row['source'], row['url'], row['note'])]}]")
        for column, _ in columns:
            value = row.get(column, math.nan)
            std = row.get(f"{column}_std", math.nan)
            if value is None or pd.isna(value):
                cells.append("–" if style == "md" else "--")
            elif std is None or pd.isna(std):
                cells.append(f"{value:.{DIGITS}f}")
            else:
                cells.append(f"{value:.{DIGITS}f}{pm}{std:.{DIGITS}f}")
        body.append(cells)
    return headers, body


_NOTES = (
    "Mean ± sample std over seeds (test split). R@k and mAP@10 in percent, higher is better; "
    "MedR lower is better; order acc. = percent of captions preferring their own clip over its "
    "order-swapped twin. Bold: best measured value per column. Rows sorted by t2a R@1. "
    "Rows differ when any protocol setting differs (hash = protocol hash); settings = what a "
    "row's runs set away from the protocol's defaults."
)


def render_markdown(title: str, rows: Sequence[BoardRow], ref: pd.DataFrame, header: str) -> str:
    """The Markdown leaderboard: header line, measured table, quoted reference section."""
    lines = [f"<!-- {header} -->", f"# Leaderboard: {title}", "", f"_{header}_", "", _NOTES, ""]
    if rows:
        headers, body = _measured_table(rows, "md")
        lines.append(tabulate(body, headers, tablefmt="github", disable_numparse=True))
    else:
        lines.append("No usable run records for this dataset.")
    if not ref.empty:
        lines += ["", f"## Reference results ({QUOTED})", ""]
        lines.append(
            f"Published numbers, {QUOTED} by this harness; they are not ranked or marked "
            "against the measured rows above. Metrics not published are shown as –."
        )
        lines.append("")
        headers, body = _reference_table(ref, "md")
        lines.append(tabulate(body, headers, tablefmt="github", disable_numparse=True))
        lines.append("")
        for (source, url, note), number in _sources(ref).items():
            lines.append(f"- [{number}] {source}, <{url}>. {note}")
    return "\n".join(lines) + "\n"


def render_latex(title: str, rows: Sequence[BoardRow], ref: pd.DataFrame, header: str) -> str:
    """A LaTeX fragment (for ``\\input``): measured tabular, then the quoted reference one."""
    lines = [f"% {header}", f"% Leaderboard: {title}. {_NOTES}".replace("±", "+/-")]
    if rows:
        headers, body = _measured_table(rows, "tex")
        lines.append(tabulate(body, headers, tablefmt="latex_raw", disable_numparse=True))
    if not ref.empty:
        lines += [
            "",
            f"% Reference results ({QUOTED}): never ranked against the measured rows.",
            rf"\paragraph{{Reference results ({QUOTED})}}",
        ]
        headers, body = _reference_table(ref, "tex")
        lines.append(tabulate(body, headers, tablefmt="latex_raw", disable_numparse=True))
        lines.append(r"\begin{itemize}")
        for (source, url, note), number in _sources(ref).items():
            lines.append(
                rf"\item[{{[{number}]}}] {_tex_escape(source)}, \url{{{url}}}. {_tex_escape(note)}"
            )
        lines.append(r"\end{itemize}")
    return "\n".join(lines) + "\n"


_TEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _tex_escape(text: str) -> str:
    """Escape the characters LaTeX treats specially."""
    return "".join(_TEX_SPECIAL.get(ch, ch) for ch in text)


def measured_frame(board: Board, rows: Sequence[BoardRow]) -> pd.DataFrame:
    """Plain numeric table of the measured rows: mean and std in separate columns."""
    records = []
    for row in rows:
        out: dict[str, Any] = {"dataset": board.dataset, "protocol": board.protocol}
        out.update({**row.keys, "settings": row.settings})
        out["seeds"] = len(row.seeds)
        out["seed_list"] = " ".join(map(str, row.seeds))
        for column, stat in row.stats.items():
            out[f"{column}_mean"] = stat.mean
            out[f"{column}_std"] = stat.std
        out["machines"] = "; ".join(sorted(row.devices))
        records.append(out)
    if not records:
        stats = [f"{d}_{m}" for d in DIRECTIONS for m in BOARD_METRICS] + [ORDER]
        return pd.DataFrame(
            columns=["dataset", "protocol", *GROUP_KEYS, "settings", "seeds", "seed_list"]
            + [f"{c}_{s}" for c in stats for s in ("mean", "std")]
            + ["machines"]
        )
    return pd.DataFrame(records)


def render_csv(board: Board, rows: Sequence[BoardRow], header: str) -> str:
    """CSV of the measured rows after a ``#`` header line (read with ``comment="#"``)."""
    frame = measured_frame(board, rows)
    return f"# {header}\n" + frame.to_csv(index=False, lineterminator="\n")


def save_plot(path: Path, title: str, rows: Sequence[BoardRow], header: str) -> Path:
    """Bar chart of t2a R@1 (mean, std error bars) per pooling, grouped by extractor."""
    from matplotlib.figure import Figure

    extractors = list(dict.fromkeys(sorted(row.keys["extractor"] for row in rows)))
    poolings = sorted({row.keys["pooling"] for row in rows})
    colors = {p: f"C{i % 10}" for i, p in enumerate(poolings)}
    fig = Figure(figsize=(max(6.0, 0.55 * len(rows) + 2), 4.5), layout="constrained")
    ax = fig.add_subplot()
    x, ticks, labels, group_mid = 0.0, [], [], []
    for extractor in extractors:
        members = sorted(
            (r for r in rows if r.keys["extractor"] == extractor),
            key=lambda r: (r.keys["pooling"], -r.stats["t2a_R1"].mean),
        )
        start = x
        counts: dict[str, int] = {}
        for row in members:
            counts[row.keys["pooling"]] = counts.get(row.keys["pooling"], 0) + 1
        for row in members:
            stat = row.stats["t2a_R1"]
            ax.bar(x, stat.mean, yerr=stat.std, color=colors[row.keys["pooling"]], capsize=3)
            label = row.keys["pooling"]
            if counts[label] > 1:
                label += f"\n{row.keys['protocol_hash'][:HASH_CHARS]}"
            ticks.append(x)
            labels.append(label)
            x += 1
        group_mid.append(((start + x - 1) / 2, extractor))
        x += 0.8
    ax.set_xticks(ticks, labels, rotation=45, ha="right", fontsize=8)
    for mid, name in group_mid:
        ax.annotate(
            name,
            (mid, 1.0),
            xycoords=("data", "axes fraction"),
            ha="center",
            va="bottom",
            fontsize=9,
            fontweight="bold",
        )
    ax.set_ylabel("t2a R@1 (%), mean ± std over seeds")
    ax.set_title(f"{title}\ntext-to-audio R@1 per pooling, grouped by extractor", pad=18)
    fig.supxlabel(header, fontsize=5, wrap=True)
    meta = {"Title": f"atr-bench leaderboard {title}", "Description": header}
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=150, metadata=meta))


def _write_board(
    board: Board,
    rows: Sequence[BoardRow],
    ref: pd.DataFrame,
    header: str,
    out_dir: Path,
    formats: Sequence[str],
) -> list[Path]:
    """Write the requested files of one board atomically; returns their paths."""
    texts = {
        "md": lambda: render_markdown(board.title, rows, ref, header),
        "csv": lambda: render_csv(board, rows, header),
        "tex": lambda: render_latex(board.title, rows, ref, header),
    }
    written = []
    for fmt in formats:
        path = inside(out_dir, f"{board.stem}.{fmt}")
        if fmt == "png":
            if rows:
                written.append(save_plot(path, board.title, rows, header))
            continue
        write = functools.partial(Path.write_text, data=texts[fmt](), encoding="utf-8")
        written.append(atomic_write(path, write))
    return written
