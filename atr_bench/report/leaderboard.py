"""Leaderboards: run records aggregated over seeds into ``<board>.{md,csv,tex,png,html}``.

``aggregate`` makes the rows of each board (one per dataset, protocol and test set) from the
records of one or several sources (``sources``: runs folders and bundles, merged by run id);
one renderer per format writes them (``markdown``, ``csv_table``, ``latex``, ``plot`` with
``curves``, ``html_page``) from the
same column model (``columns``), every figure in the same looks (``palette``). Each board says
how it was made (``provenance``: the commands that make its runs again, ``reproduce``), in its
text files' first line and, for the CSV, in a JSON file beside it. Published numbers are shown
below the measured rows as quoted, not re-run, and take no part in ranking or best marking.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from atr_bench.errors import AtrBenchError
from atr_bench.files.atomic import atomic_write
from atr_bench.files.names import check_name, inside
from atr_bench.files.replacing import refuse_replacing
from atr_bench.record.ranks import QueryRanks
from atr_bench.record.results import Problem
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
from atr_bench.report.html_page import render_html
from atr_bench.report.latex import check_columns, render_latex
from atr_bench.report.markdown import render_markdown
from atr_bench.report.palette import row_looks
from atr_bench.report.plot import save_plot
from atr_bench.report.provenance import SIDECAR, Provenance, runs_made, write_sidecar
from atr_bench.report.reference import reference_rows
from atr_bench.report.reproduce import DEFAULT_RUNS_DIR, leaderboard_command, run_commands
from atr_bench.report.row_choice import check_rows
from atr_bench.report.significance import (
    INTERVAL_METRICS,
    check_intervals,
    check_method,
    mark_significance,
)
from atr_bench.report.sources import Collected, collect
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
    sources: tuple[str, ...] = ()
    """Each runs folder or bundle read, in words, when there were several or a bundle."""
    merged: int = 0
    """Runs found in more than one source with the same numbers, each counted once."""
    conflicts: tuple[str, ...] = ()
    """Runs whose copies hold different numbers (``sources.Conflict.line``)."""

    def lines(self) -> list[str]:
        """Human-readable summary, one line per board (naming every file written for it),
        exclusion and problem."""
        out = []
        for stem, rows in self.boards.items():
            files = sorted(p.name for p in self.files.get(stem, ()))
            out.append(f"{stem}: {rows} measured rows -> {self.out_dir}/{{{','.join(files)}}}")
        if not self.boards:
            out.append("no leaderboard written: no usable run records")
        out += [f"source {source}" for source in self.sources]
        out.append(f"{self.records_used} run records used")
        if self.merged:
            runs = "1 run" if self.merged == 1 else f"{self.merged} runs"
            out.append(f"{runs} found in more than one source, each counted once")
        out += list(self.conflicts)
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
    rows: tuple[str, ...] = ()
    """The rows the LaTeX table shows (``row_choice``); empty: all."""
    prefer: str | None = None
    """The source whose copy of a conflicting run is taken (``sources.collect``)."""

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
            "--rows": ",".join(self.rows) or None,
            "--prefer": self.prefer,
        }
        flags = [part for flag, value in given.items() if value for part in (flag, value)]
        return flags + (["--include-smoke"] if self.include_smoke else [])


def build_leaderboards(
    runs_dir: Path | Sequence[Path],
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
    prefer: str | None = None,
    rows: Sequence[str] = (),
) -> LeaderboardReport:
    """Aggregate every record under ``runs_dir`` into per-dataset leaderboards in ``out_dir``.

    ``runs_dir`` may be several runs folders and bundles, merged by run id (``sources``: a
    conflict is left off unless ``prefer`` names the source to take it from). Each board says
    how to make it again (``provenance``): the commands that make its runs (``reproduce``),
    then the leaderboard call, or ``command`` instead. Rows whose records kept per-query ranks
    get 95 % intervals of the ``intervals`` metrics, resampling what ``interval_method`` says.
    Smoke-sized runs are left off unless ``include_smoke`` (then on boards of their own).
    ``columns`` and ``rows``: the LaTeX table's (``row_choice``). Without ``overwrite``
    nothing is written when a file to write exists already (``files.replacing``).
    """
    options = BoardOptions(
        _checked_formats(formats),
        command,
        check_intervals(intervals),
        check_method(interval_method),
        include_smoke,
        check_columns(columns),
        tuple(dict.fromkeys(rows)),
        prefer,
    )
    runs_dirs = [Path(runs_dir)] if isinstance(runs_dir, str | Path) else list(map(Path, runs_dir))
    out_dir = Path(out_dir)
    wanted = None
    if datasets is not None:
        wanted = [check_name(name, "--dataset") for name in dict.fromkeys(datasets)]
    read = _read(runs_dirs, prefer, wanted, include_smoke)
    call = leaderboard_command(runs_dirs, out_dir, options.flags(wanted))
    origins = read.collected.origins if read.collected.labelled else None
    made = [
        _made(board, read.boards[board], read, origins, options, call)
        for board in sorted(read.boards, key=lambda b: (b.dataset, b.protocol, b.stem))
    ]
    check_rows(options.rows, (board.rows for board in made))
    files = _write_all(made, out_dir, options.formats, overwrite)
    return _report(out_dir, made, read, files)


def _report(
    out_dir: Path, made: Sequence[MadeBoard], read: _Read, files: dict[str, tuple[Path, ...]]
) -> LeaderboardReport:
    collected = read.collected
    return LeaderboardReport(
        out_dir=out_dir,
        boards={board.board.stem: len(board.rows) for board in made},
        records_used=read.used,
        untrained_excluded=read.kept.untrained,
        smoke_excluded=read.kept.smoke,
        problems=(*collected.problems, *read.kept.problems, *read.rank_problems),
        written=tuple(path for paths in files.values() for path in paths),
        files=files,
        sources=tuple(s.description for s in collected.sources) if collected.labelled else (),
        merged=collected.merged,
        conflicts=tuple(conflict.line() for conflict in collected.conflicts),
    )


@dataclass(frozen=True)
class _Read:
    """The records of a build by board, their ranks, and what was left off."""

    collected: Collected
    kept: _Kept
    ranks: dict[str, QueryRanks]
    rank_problems: tuple[Problem, ...]
    boards: dict[Board, list[RunRecord]]
    used: int
    own_runs: Path
    """The runs folder the reproduce lines name: the first folder given (a bundle's runs
    were made elsewhere), else the default."""


def _read(
    runs_dirs: Sequence[Path], prefer: str | None, wanted: list[str] | None, include_smoke: bool
) -> _Read:
    """Every source's records merged, sorted out and grouped per board; a dataset asked for
    without records gets a board of its quoted rows alone."""
    missing = [d for d in runs_dirs if not d.exists()]
    if missing:
        raise AtrBenchError(f"{missing[0]}: no such runs directory; run `atr-bench run` first")
    collected = collect(runs_dirs, prefer)
    kept = _sort_records(collected, wanted, include_smoke)
    ranks, rank_problems = collected.ranks(kept.usable)
    usable = [r for r in kept.usable if r.run_id not in rank_problems]
    boards = by_board(usable)
    for dataset in wanted or ():
        if not any(board.dataset == dataset for board in boards):
            _check_quotable(dataset, collected.records, " ".join(map(str, runs_dirs)))
            boards[Board(dataset, f"{DEFAULT_PROTOCOL}@1")] = []
    folders = [d for d in runs_dirs if d.is_dir()]
    own = folders[0] if folders else DEFAULT_RUNS_DIR
    problems = tuple(rank_problems.values())
    return _Read(collected, kept, ranks, problems, boards, len(usable), own)


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
    read: _Read,
    origins: Mapping[str, Sequence[str]] | None,
    options: BoardOptions,
    call: str,
) -> MadeBoard:
    """Aggregate, test and mark one board's rows and say how it was made."""
    made = runs_made(record.created for record in records)
    rows = aggregate(records, read.ranks, origins)
    mark_significance(rows, options.intervals, options.interval_method)
    mark_best(rows)
    machines = tuple(sorted({d for row in rows for d in row.devices}))
    if options.command is None:
        runs = run_commands(records, read.own_runs)
        provenance = Provenance((*runs.commands, call), made, machines, runs.unsettable)
    else:
        provenance = Provenance((options.command,), made, machines)
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


def _sort_records(collected: Collected, wanted: list[str] | None, include_smoke: bool) -> _Kept:
    """The records of the ``wanted`` datasets that can enter a board, apart from untrained,
    unusable and (unless ``include_smoke``) smoke-sized ones."""
    kept = _Kept()
    for record in collected.records:
        if wanted is not None and record.dataset not in wanted:
            continue
        reason = unusable(record)
        if record.untrained:
            kept.untrained += 1
        elif reason:
            kept.problems.append(Problem(collected.found(record).where, reason))
        elif (sized := smoke_reasons(record)) and not include_smoke:
            key = ", ".join(sized)
            kept.smoke[key] = kept.smoke.get(key, 0) + 1
        else:
            kept.usable.append(record)
    return kept


def _check_quotable(dataset: str, records: Sequence[RunRecord], runs_dir: str) -> None:
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
        ".tex": lambda: render_latex(
            board, rows, made.ref, header, made.options.columns, made.options.rows
        ),
        ".html": lambda: render_html(board, rows, made.ref, header),
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
