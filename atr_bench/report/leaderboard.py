"""Leaderboards: run records aggregated over seeds into ``<dataset>-<protocol>.{md,csv,tex,png}``
and an HTML page (``.html``).

``aggregate`` makes the rows of each board (one per dataset and protocol); one renderer per
format writes them (``markdown``, ``csv_table``, ``latex``, ``plot``, ``html_page``) from the
same column model (``columns``). Published numbers are shown below the measured rows as
quoted, not re-run, and take no part in ranking or best marking.
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
from atr_bench.report.csv_table import render_csv
from atr_bench.report.curves import draw_validation_curves
from atr_bench.report.formats import FORMATS, INTERVAL_METHODS
from atr_bench.report.html_page import render_html
from atr_bench.report.latex import render_latex
from atr_bench.report.markdown import render_markdown
from atr_bench.report.one_line import one_line
from atr_bench.report.plot import save_plot
from atr_bench.report.reference import reference_rows
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
    sources: tuple[str, ...] = ()
    """Each runs folder or bundle read, in words, when there were several or a bundle."""
    merged: int = 0
    """Runs found in more than one source with the same numbers, each counted once."""
    conflicts: tuple[str, ...] = ()
    """Runs whose copies hold different numbers (``sources.Conflict.line``)."""

    def lines(self) -> list[str]:
        """Human-readable summary, one line per board, exclusion and problem."""
        out = []
        for stem, rows in self.boards.items():
            files = sorted(p.name for p in self.written if p.stem == stem)
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
    prefer: str | None = None,
) -> LeaderboardReport:
    """Aggregate every record under ``runs_dir`` into per-dataset leaderboards in ``out_dir``.

    ``runs_dir`` may be several runs folders and bundles, merged by run id (``sources``: a
    conflict is left off unless ``prefer`` names the source to take it from).

    ``command`` (the shell command that reproduces the files) heads each file; by default it
    is the ``atr-bench leaderboard`` call that rebuilds them from the same records. Rows whose
    records kept per-query ranks get 95 % intervals of the ``intervals`` metrics, resampling
    what ``interval_method`` says (``significance.INTERVAL_METHODS``). Smoke-sized runs are
    left off unless ``include_smoke`` (then on boards of their own).
    """
    intervals = check_intervals(intervals)
    check_method(interval_method)
    runs_dirs = [Path(runs_dir)] if isinstance(runs_dir, str | Path) else list(map(Path, runs_dir))
    out_dir = Path(out_dir)
    formats = _checked_formats(formats)
    given = " ".join(f"--runs-dir {d}" for d in runs_dirs)
    command = command or f"atr-bench leaderboard {given} --out {out_dir}"
    wanted = None
    if datasets is not None:
        wanted = [check_name(name, "--dataset") for name in dict.fromkeys(datasets)]
    read = _read(runs_dirs, prefer, wanted, include_smoke)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    boards, written = {}, []
    for board in sorted(read.boards, key=lambda b: (b.dataset, b.protocol, b.stem)):
        origins = read.collected.origins if read.collected.labelled else None
        rows = aggregate(read.boards[board], read.ranks, origins)
        mark_significance(rows, intervals, interval_method)
        mark_best(rows)
        header = _header(command, stamp, rows)
        ref = reference_rows(board.dataset)
        written += _write_board(board, rows, ref, header, out_dir, formats)
        boards[board.stem] = len(rows)
    collected = read.collected
    return LeaderboardReport(
        out_dir=out_dir,
        boards=boards,
        records_used=read.used,
        untrained_excluded=read.kept.untrained,
        smoke_excluded=read.kept.smoke,
        problems=(*collected.problems, *read.kept.problems, *read.rank_problems),
        written=tuple(written),
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
    return _Read(collected, kept, ranks, tuple(rank_problems.values()), boards, len(usable))


def _header(command: str, stamp: str, rows: Sequence[BoardRow]) -> str:
    """The line heading every file of a board: how to make it again, when, on what."""
    machines = sorted({d for row in rows for d in row.devices})
    return one_line(
        f"reproduce with: {command} | generated {stamp} | machines: {'; '.join(machines) or 'none'}"
    )


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
        "html": lambda: render_html(board, rows, ref, header),
    }
    written = []
    for fmt in formats:
        path = inside(out_dir, f"{board.stem}.{fmt}")
        if fmt == "png":
            if rows:
                written.append(save_plot(path, board.title, rows, header))
                curves = inside(out_dir, f"{board.stem}-curves.png")
                drawn = draw_validation_curves(
                    {row.name: row.val_curves for row in rows}, curves, title=board.title
                )
                written += [drawn] if drawn else []
            continue
        write = functools.partial(Path.write_text, data=texts[fmt](), encoding="utf-8")
        written.append(atomic_write(path, write))
    return written
