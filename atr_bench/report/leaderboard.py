"""Leaderboards: run records aggregated over seeds into ``<dataset>-<protocol>.{md,csv,tex,png}``.

``aggregate`` makes the rows of each board (one per dataset and protocol); one renderer per
format writes them (``markdown``, ``csv_table``, ``latex``, ``plot`` with ``curves``) from the
same column model (``columns``), every figure in the same looks (``palette``). Each board says
how it was made (``provenance``: the commands that make its runs again, ``reproduce``), in its
text files' first line and, for the CSV, in a JSON file beside it. Published numbers are shown
below the measured rows as quoted, not re-run, and take no part in ranking or best marking.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from atr_bench.errors import AtrBenchError
from atr_bench.files.atomic import atomic_write
from atr_bench.files.names import check_name, inside
from atr_bench.files.replacing import refuse_replacing
from atr_bench.record.ranks import QueryRanks, read_record_ranks
from atr_bench.record.results import Problem, read_records
from atr_bench.record.run_record import RunRecord
from atr_bench.report.aggregate import (
    Board,
    BoardRow,
    aggregate,
    by_board,
    mark_best,
    unusable,
)
from atr_bench.report.chance import split_chance
from atr_bench.report.csv_table import render_csv
from atr_bench.report.curves import draw_validation_curves, drawn_curves
from atr_bench.report.formats import FORMATS, INTERVAL_METHODS, LATEX_COLUMNS
from atr_bench.report.latex import check_columns, render_latex
from atr_bench.report.markdown import render_markdown
from atr_bench.report.palette import row_looks
from atr_bench.report.plot import save_plot
from atr_bench.report.provenance import SIDECAR, Provenance, write_sidecar
from atr_bench.report.reference import reference_rows
from atr_bench.report.reproduce import leaderboard_command, run_commands
from atr_bench.report.significance import (
    INTERVAL_METRICS,
    check_intervals,
    check_method,
    mark_significance,
)
from atr_bench.report.test_sets import smoke_reasons
from atr_bench.run.config import DEFAULT_PROTOCOL


@dataclass(frozen=True)
class LeaderboardReport:
    """What ``build_leaderboards`` read, left out and wrote."""

    out_dir: Path
    boards: dict[str, int]
    records_used: int
    untrained_excluded: int
    smoke_excluded: dict[str, int]
    """Smoke-sized records left off, per reason (``test_sets.smoke_reasons``)."""
    problems: tuple[Problem, ...]
    written: tuple[Path, ...]
    files: dict[str, tuple[Path, ...]] = field(default_factory=dict)
    """Per board (by stem), every file written for it."""

    def lines(self) -> list[str]:
        """Human-readable summary, one line per board (naming every file written for it),
        exclusion and problem."""
        out = []
        for stem, rows in self.boards.items():
            files = sorted(p.name for p in self.files.get(stem, ()))
            out.append(f"{stem}: {rows} measured rows -> {self.out_dir}/{{{','.join(files)}}}")
        if not self.boards:
            out.append("no leaderboard written: no usable run records")
        out.append(f"{self.records_used} run records used")
        if self.untrained_excluded:
            out.append(f"{self.untrained_excluded} untrained (--weights random) records excluded")
        if self.smoke_excluded:
            why = "; ".join(f"{n} with {reason}" for reason, n in self.smoke_excluded.items())
            total = sum(self.smoke_excluded.values())
            out.append(
                f"{total} smoke-sized records left off ({why}); --include-smoke puts them on "
                "boards of their own"
            )
        out.extend(f"skipped {p.path}: {p.reason}" for p in self.problems)
        return out


@dataclass(frozen=True)
class BoardOptions:
    """How boards are built besides which records: the ``atr-bench leaderboard`` flags."""

    formats: tuple[str, ...] = FORMATS
    command: str | None = None
    """The whole reproduce line, as the user gives it; None: derived from the records."""
    intervals: tuple[str, ...] = INTERVAL_METRICS
    interval_method: str = INTERVAL_METHODS[0]
    include_smoke: bool = False
    columns: tuple[str, ...] = LATEX_COLUMNS

    def flags(self, datasets: Sequence[str] | None) -> list[str]:
        """The flags of the leaderboard call that builds the same boards (those away from
        their defaults)."""
        given = {
            "--dataset": ",".join(datasets) if datasets else None,
            "--format": ",".join(self.formats) if self.formats != FORMATS else None,
            "--intervals": ",".join(self.intervals) if self.intervals != INTERVAL_METRICS else None,
            "--interval-method": self.interval_method
            if self.interval_method != INTERVAL_METHODS[0]
            else None,
            "--columns": ",".join(self.columns) if self.columns != LATEX_COLUMNS else None,
        }
        flags = [part for flag, value in given.items() if value for part in (flag, value)]
        return flags + (["--include-smoke"] if self.include_smoke else [])


def build_leaderboards(
    runs_dir: Path,
    out_dir: Path,
    datasets: Iterable[str] | None = None,
    formats: Iterable[str] = FORMATS,
    *,
    command: str | None = None,
    intervals: Sequence[str] = INTERVAL_METRICS,
    interval_method: str = INTERVAL_METHODS[0],
    include_smoke: bool = False,
    columns: Sequence[str] = LATEX_COLUMNS,
    overwrite: bool = True,
) -> LeaderboardReport:
    """Aggregate every record under ``runs_dir`` into per-dataset leaderboards in ``out_dir``.

    Each board says how to make it again (``provenance``): the commands that make its runs
    (``reproduce``), then the leaderboard call, or ``command`` instead. Rows whose records
    kept per-query ranks get 95 % intervals of the ``intervals`` metrics, resampling what
    ``interval_method`` says. Smoke-sized runs are left off unless ``include_smoke`` (then on
    boards of their own). ``columns``: the LaTeX table's. Without ``overwrite`` nothing is
    written when a file to write exists already (``files.replacing``).
    """
    options = BoardOptions(
        _checked_formats(formats),
        command,
        check_intervals(intervals),
        check_method(interval_method),
        include_smoke,
        check_columns(columns),
    )
    runs_dir, out_dir = Path(runs_dir), Path(out_dir)
    if not runs_dir.is_dir():
        raise AtrBenchError(f"{runs_dir}: no such runs directory; run `atr-bench run` first")
    records, read_problems = read_records(runs_dir)
    wanted = None
    if datasets is not None:
        wanted = [check_name(name, "--dataset") for name in dict.fromkeys(datasets)]
    kept = _sort_records(records, runs_dir, wanted, include_smoke)
    ranks, rank_problems = _ranks(runs_dir, kept.usable)
    left_off = {problem.path.stem for problem in rank_problems}
    usable = [r for r in kept.usable if r.run_id not in left_off]
    boards_records = _by_board(usable, wanted, records, runs_dir)
    call = leaderboard_command(runs_dir, out_dir, options.flags(wanted))
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    made = [
        _made(board, boards_records[board], ranks, options, runs_dir, (call, stamp))
        for board in sorted(boards_records, key=lambda b: (b.dataset, b.protocol, b.stem))
    ]
    files = _write_all(made, out_dir, options.formats, overwrite)
    return LeaderboardReport(
        out_dir=out_dir,
        boards={board.board.stem: len(board.rows) for board in made},
        records_used=len(kept.usable) - len(left_off),
        untrained_excluded=kept.untrained,
        smoke_excluded=kept.smoke,
        problems=(*read_problems, *kept.problems, *rank_problems),
        written=tuple(path for paths in files.values() for path in paths),
        files=files,
    )


@dataclass(frozen=True)
class MadeBoard:
    """One board ready to write: its rows, quoted rows, provenance and the chance levels of
    its validation split (for the curves)."""

    board: Board
    rows: list[BoardRow]
    ref: pd.DataFrame
    provenance: Provenance
    options: BoardOptions
    val_chance: dict[str, set[float]]


def _made(
    board: Board,
    records: Sequence[RunRecord],
    ranks: dict[str, QueryRanks],
    options: BoardOptions,
    runs_dir: Path,
    call_and_stamp: tuple[str, str],
) -> MadeBoard:
    """Aggregate, test and mark one board's rows and say how it was made."""
    call, stamp = call_and_stamp
    rows = aggregate(records, ranks)
    mark_significance(rows, options.intervals, options.interval_method)
    mark_best(rows)
    machines = tuple(sorted({d for row in rows for d in row.devices}))
    if options.command is None:
        runs = run_commands(records, runs_dir)
        provenance = Provenance((*runs.commands, call), stamp, machines, runs.unsettable)
    else:
        provenance = Provenance((options.command,), stamp, machines)
    ref = reference_rows(board.dataset)
    val_chance = split_chance((record.sizes for record in records), "val")
    return MadeBoard(board, rows, ref, provenance, options, val_chance)


def _checked_formats(formats: Iterable[str]) -> tuple[str, ...]:
    formats = tuple(dict.fromkeys(formats))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise AtrBenchError(
            f"--format {','.join(unknown)}: unknown leaderboard format; choose from "
            f"{','.join(FORMATS)}"
        )
    return formats


@dataclass
class _Kept:
    """The records a build uses, and how many it left off and why."""

    usable: list[RunRecord] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    untrained: int = 0
    smoke: dict[str, int] = field(default_factory=dict)


def _sort_records(
    records: Iterable[RunRecord], runs_dir: Path, wanted: list[str] | None, include_smoke: bool
) -> _Kept:
    """The records of the ``wanted`` datasets that can enter a board, apart from untrained,
    unusable and (unless ``include_smoke``) smoke-sized ones."""
    kept = _Kept()
    for record in records:
        if wanted is not None and record.dataset not in wanted:
            continue
        reason = unusable(record)
        if record.untrained:
            kept.untrained += 1
        elif reason:
            kept.problems.append(Problem(runs_dir / f"{record.run_id or '?'}.json", reason))
        elif (sized := smoke_reasons(record)) and not include_smoke:
            key = ", ".join(sized)
            kept.smoke[key] = kept.smoke.get(key, 0) + 1
        else:
            kept.usable.append(record)
    return kept


def _by_board(
    usable: Sequence[RunRecord],
    wanted: Sequence[str] | None,
    records: Sequence[RunRecord],
    runs_dir: Path,
) -> dict[Board, list[RunRecord]]:
    """The records of each board, and an empty board for each dataset asked for without
    records (its quoted rows alone)."""
    boards_records = by_board(usable)
    for dataset in wanted or ():
        if not any(board.dataset == dataset for board in boards_records):
            _check_quotable(dataset, records, runs_dir)
            boards_records[Board(dataset, f"{DEFAULT_PROTOCOL}@1")] = []
    return boards_records


def _check_quotable(dataset: str, records: Sequence[RunRecord], runs_dir: Path) -> None:
    """A dataset asked for without usable records gets a board of its quoted rows alone; with
    none to quote either, an error saying what there is."""
    if not reference_rows(dataset).empty:
        return
    if any(r.dataset == dataset and smoke_reasons(r) for r in records):
        raise AtrBenchError(
            f"--dataset {dataset}: only smoke-sized run records of it in {runs_dir}; "
            "pass --include-smoke to show them"
        )
    known = sorted({r.dataset for r in records}) or ["none"]
    raise AtrBenchError(
        f"--dataset {dataset}: no run records of it in {runs_dir} and no published "
        f"results to quote; datasets with records: {', '.join(known)}"
    )


def _ranks(
    runs_dir: Path, records: Iterable[RunRecord]
) -> tuple[dict[str, QueryRanks], list[Problem]]:
    """The per-query ranks kept beside records (by run id), and a problem for each record
    whose ranks file is there but is not one or gives other numbers than the record (such a
    record is left off: which of the two is right cannot be told). A record whose file is
    gone just has none (its row then shows no interval)."""
    out, problems = {}, []
    for record in records:
        if record.ranks is None or record.run_id is None:
            continue
        if not (runs_dir / record.ranks).exists():
            continue
        try:
            out[record.run_id] = read_record_ranks(
                runs_dir, record.run_id, record.ranks, record.test
            )
        except AtrBenchError as exc:
            problems.append(Problem(runs_dir / f"{record.run_id}.json", str(exc)))
    return out, problems


def _write_all(
    made: Sequence[MadeBoard], out_dir: Path, formats: Sequence[str], overwrite: bool
) -> dict[str, tuple[Path, ...]]:
    """Write every board's files (none when, without ``overwrite``, one of them exists);
    per board, the files written."""
    plans = {board.board.stem: _files(board, out_dir, formats) for board in made}
    if not overwrite:
        refuse_replacing(path for plan in plans.values() for path in plan)
    return {board.board.stem: _write_board(board, plans[board.board.stem]) for board in made}


def _files(made: MadeBoard, out_dir: Path, formats: Sequence[str]) -> list[Path]:
    """The files one board is written as: each format's, the CSV's provenance beside it, and
    the PNG's curves where some row has them; none of a plot without rows."""
    stem, rows = made.board.stem, made.rows
    paths = []
    for fmt in formats:
        if fmt == "png" and not rows:
            continue
        paths.append(inside(out_dir, f"{stem}.{fmt}"))
        if fmt == "csv":
            paths.append(inside(out_dir, f"{stem}{SIDECAR}"))
        if fmt == "png" and drawn_curves({row.name: row.val_curves for row in rows}):
            paths.append(inside(out_dir, f"{stem}-curves.png"))
    return paths


def _write_board(made: MadeBoard, paths: Sequence[Path]) -> tuple[Path, ...]:
    """Write the planned files of one board, each atomically; returns their paths."""
    board, rows, header = made.board, made.rows, made.provenance.line()
    texts = {
        ".md": lambda: render_markdown(board.title, rows, made.ref, header),
        ".csv": lambda: render_csv(board, rows),
        ".tex": lambda: render_latex(board, rows, made.ref, header, made.options.columns),
    }
    for path in paths:
        if path.name.endswith(SIDECAR):
            write_sidecar(path, made.provenance, board.title, [p.name for p in paths])
        elif path.name.endswith("-curves.png"):
            draw_validation_curves(
                {row.name: row.val_curves for row in rows},
                path,
                title=board.title,
                looks=row_looks(rows),
                chance=made.val_chance,
            )
        elif path.suffix == ".png":
            save_plot(path, board.title, rows, header)
        else:
            write = functools.partial(Path.write_text, data=texts[path.suffix](), encoding="utf-8")
            atomic_write(path, write)
    return tuple(paths)
