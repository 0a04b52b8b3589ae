"""The board a sweep prints when it ends: the runs of that sweep (done now or before), averaged
over seeds as on a leaderboard, one console table per board with the Markdown board's naming
and metric cells. Intervals, best marks and files are ``atr-bench leaderboard``'s job."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tabulate import tabulate

from atr_bench.errors import AtrBenchError
from atr_bench.record.results import read_record
from atr_bench.record.run_record import RunRecord
from atr_bench.report.aggregate import aggregate, by_board, unusable
from atr_bench.report.columns import KEY_COLUMNS, shown_columns
from atr_bench.report.one_line import one_line
from atr_bench.report.text_table import Style, measured_table

CONSOLE = Style(pm=" ± ", dash="–", bold=lambda text: text, escape=one_line, mark="")
"""Plain cells: no best marks (a sweep's board computes no intervals to judge them by)."""


def sweep_board(paths: Sequence[Path], runs_dir: Path) -> str:
    """The console text of the board of the runs whose records are at ``paths``; "" when
    there are none to show."""
    records: list[RunRecord] = []
    lines = []
    for path in paths:
        try:
            records.append(read_record(path))
        except AtrBenchError as exc:
            lines.append(f"not shown: {exc}")
    untrained = sum(r.untrained for r in records)
    usable = [r for r in records if not r.untrained and unusable(r) is None]
    boards = by_board(usable)
    for board in sorted(boards, key=lambda b: (b.dataset, b.protocol, b.stem)):
        rows = aggregate(boards[board])
        headers, body = measured_table(rows, CONSOLE)
        width = len(KEY_COLUMNS) + len(shown_columns(rows))  # names and metrics, no extras
        table = tabulate(
            [cells[:width] for cells in body],
            headers[:width],
            tablefmt="github",
            disable_numparse=True,
        )
        lines += ["", f"{board.title}: mean ± std over seeds (%, ranks 1-based)", table]
    if untrained:
        lines.append(f"{untrained} untrained runs (--weights random) not shown")
    if boards:
        smoke = " --include-smoke" if any(board.smoke for board in boards) else ""
        command = f"atr-bench leaderboard --runs-dir {runs_dir}{smoke}"
        lines += ["", f"intervals, best marks and files: {command}"]
    return "\n".join(lines)
