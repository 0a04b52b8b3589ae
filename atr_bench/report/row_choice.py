"""Which rows a paper table shows (``atr-bench leaderboard --rows``): a row is chosen by its
pooling, its extractor or the first four or more characters of its run hash. The choice thins
the LaTeX table only; the Markdown, CSV and HTML boards keep every row, and the table's bold is
still judged against all of the board's rows (``significant_best``), so leaving a row out
cannot make another one look significantly best."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from atr_bench.errors import AtrBenchError
from atr_bench.record.selection import MIN_HASH, names_hash
from atr_bench.report.aggregate import BoardRow


def chooses(selector: str, row: BoardRow) -> bool:
    """Whether ``selector`` names ``row``."""
    keys = row.keys
    if selector in (keys["pooling"], keys["extractor"]):
        return True
    return names_hash(selector, str(keys["protocol_hash"]))


def chosen_rows(rows: Sequence[BoardRow], selectors: Sequence[str]) -> list[BoardRow]:
    """The rows any of ``selectors`` names, in the board's order; every row without any."""
    if not selectors:
        return list(rows)
    return [row for row in rows if any(chooses(s, row) for s in selectors)]


def check_rows(selectors: Sequence[str], boards: Iterable[Sequence[BoardRow]]) -> None:
    """Each selector must name a row of some board, else an error that says what names one."""
    rows = [row for board in boards for row in board]
    unmatched = [s for s in selectors if not any(chooses(s, row) for row in rows)]
    if unmatched:
        raise AtrBenchError(
            f"--rows {','.join(unmatched)}: names no row; a row is named by its pooling, its "
            f"extractor or {MIN_HASH}+ characters of its hash (the boards' hash column)"
        )
