"""The LaTeX leaderboard: a paper table to ``\\input`` (needs ``\\usepackage{booktabs}``).

One float of the measured rows with a caption and a label (``tab:<board stem>``): the chosen
statistic columns (``formats.LATEX_COLUMNS`` by default) under a text-to-audio /
audio-to-text header, ``$mean \\pm std$`` cells, a value in bold only where it is
significantly best in its column (``significant_best``). The naming columns are those the
rows need: extractor and pooling always; text pooling, text encoder, settings and seeds where
rows differ in them (what all rows share is said in the caption, settings as marks the caption
spells out); the run hash where rows would otherwise read alike. Every row ends in a comment
with its run hash. A table of more than ``NARROW`` statistic columns is a ``table*``, the
full width of a two-column paper. Quoted published numbers follow in a float of their own,
never ranked against the measured rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from atr_bench.errors import AtrBenchError
from atr_bench.record.metric_names import BY_KEY
from atr_bench.report.aggregate import Board, BoardRow
from atr_bench.report.columns import HASH_CHARS, ORDER_COLUMN, STAT_COLUMNS, key_cells
from atr_bench.report.formats import LATEX_COLUMNS
from atr_bench.report.row_choice import chosen_rows
from atr_bench.report.significant_best import significantly_best
from atr_bench.report.stats import DIGITS, format_mean_std
from atr_bench.report.text_table import NOTES, QUOTED, REFERENCE_KEYS, notes_below, sources

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
    "|": r"\textbar{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "–": "--",
    "⚠": "(!)",  # the unsound mark: not in pdflatex's default fonts
}
DASH = "--"
"""A value not measured or not published."""
DIRECTION_HEADS = {"t2a": r"text $\to$ audio", "a2t": r"audio $\to$ text"}
BOLD_RULE = (
    r"Bold: best in its column and significantly better than every other row ($p < 0.05$; "
    r"paired permutation test over the test queries, or Welch's $t$-test over seeds where a "
    r"row kept no per-query ranks)."
)
NEAR_BEST_RULE = r"$^\dagger$: not significantly below the best t2a R@1."
NARROW = 3
"""The most statistic columns a table of one page column holds; more take a ``table*``."""


def check_columns(columns: Sequence[str]) -> tuple[str, ...]:
    """``columns`` if each is a statistic a board row carries, else an error naming the flag."""
    known = [column.key for column in STAT_COLUMNS]
    wrong = [key for key in columns if key not in known]
    if wrong or not columns:
        raise AtrBenchError(
            f"--columns {','.join(wrong)}: not a board column; choose from {','.join(known)}"
        )
    return tuple(dict.fromkeys(columns))


def tex_escape(text: str) -> str:
    """Escape the characters LaTeX treats specially."""
    return "".join(_TEX_SPECIAL.get(ch, ch) for ch in text)


def _comment(text: str) -> str:
    return "% " + text.replace("†", "dagger").replace("±", "+/-")


def label_of(stem: str) -> str:
    """The ``\\label`` of a board's table."""
    return f"tab:{stem}"


def render_latex(
    board: Board,
    rows: Sequence[BoardRow],
    ref: pd.DataFrame,
    header: str,
    columns: Sequence[str] = LATEX_COLUMNS,
    chosen: Sequence[str] = (),
) -> str:
    """The whole LaTeX file of one board: the measured table (the rows ``chosen`` names, or
    all; ``row_choice``), then the quoted one."""
    lines = [f"% {header}", _comment(f"Leaderboard: {board.title}. {NOTES}")]
    lines.append(r"% needs \usepackage{booktabs} in the preamble")
    shown = chosen_rows(rows, chosen)
    if rows and not shown:
        lines.append(_comment(f"no row of this board is named by --rows {','.join(chosen)}"))
    if shown:
        lines += measured_float(board.title, board.stem, rows, columns, shown)
        lines += [_comment(note) for note in notes_below(shown)]
    if not ref.empty:
        lines += ["", *reference_float(board.dataset, board.stem, ref, columns)]
    return "\n".join(lines) + "\n"


Naming = tuple[str, str]
"""A naming column: its field in ``NAMING_FIELDS`` and its header."""
NAMING_FIELDS = (
    "extractor",
    "pooling",
    "text_pooling",
    "text_encoder",
    "protocol_hash",
    "settings",
    "seeds",
)
"""``columns.key_cells``' order."""
NAMING_LABELS = {
    "extractor": "extractor",
    "pooling": "pooling",
    "text_pooling": "text pooling",
    "text_encoder": "text encoder",
    "protocol_hash": "hash",
    "settings": "settings",
    "seeds": "seeds",
}


def _names(row: BoardRow) -> dict[str, str]:
    return dict(zip(NAMING_FIELDS, key_cells(row), strict=True))


def naming_columns(rows: Sequence[BoardRow]) -> tuple[list[str], list[str]]:
    """The naming fields these rows need as columns, and what every row shares (said in the
    caption instead)."""
    cells = [_names(row) for row in rows]
    shown = ["extractor", "pooling"]
    shared = []
    if any(c["text_pooling"] not in ("(as audio)", c["pooling"]) for c in cells):
        shown.append("text_pooling")
    for field in ("text_encoder", "settings", "seeds"):
        values = {c[field] for c in cells}
        if len(values) > 1:
            shown.append(field)
        elif values != {"–"}:
            shared.append(f"{NAMING_LABELS[field]}: {values.pop()}")
    if len({tuple(c[f] for f in shown) for c in cells}) < len(cells):
        shown.append("protocol_hash")  # rows alike in all else: the hash tells them apart
    return shown, shared


def settings_marks(rows: Sequence[BoardRow]) -> dict[str, str]:
    """Each distinct settings text of the rows (``–`` for none aside) -> its mark, ``(a)``,
    ``(b)``, ...: the table shows the mark, the caption what it stands for, so a long list
    of settings does not widen the table."""
    texts = dict.fromkeys(_names(row)["settings"] for row in rows)
    marks = [text for text in texts if text != "–"]
    return {text: f"({_letters(i)})" for i, text in enumerate(marks)}


def _letters(i: int) -> str:
    """``a``, ..., ``z``, ``aa``, ``ab``, ... for 0, 1, ..."""
    return ("" if i < 26 else _letters(i // 26 - 1)) + chr(ord("a") + i % 26)


def stat_cell(row: BoardRow, key: str, bold: bool) -> str:
    """``$mean \\pm std$`` (the mean alone for one seed), bold when ``bold``, with the dagger
    on the t2a R@1 of a row not significantly below the best."""
    stat = row.stats[key]
    if stat.n == 0:
        return DASH
    text = f"{stat.mean:.{DIGITS}f}"
    if stat.n > 1:
        text += rf" \pm {stat.std:.{DIGITS}f}"
    text = rf"\mathbf{{{text}}}" if bold else text
    mark = r"^\dagger" if key == "t2a_R1" and row.near_best else ""
    return f"${text}{mark}$"


def head_rows(naming: int, columns: Sequence[str]) -> list[str]:
    """The header line of directions over the statistic columns and the rules under each
    direction's run of columns; none when no column has a direction."""
    groups: list[tuple[str, int]] = []
    for key in columns:
        direction = "" if key == ORDER_COLUMN.key else key.partition("_")[0]
        if groups and groups[-1][0] == direction:
            groups[-1] = (direction, groups[-1][1] + 1)
        else:
            groups.append((direction, 1))
    top, rules, start = [""] * naming, [], naming + 1
    for direction, width in groups:
        head = DIRECTION_HEADS.get(direction, "")
        top.append(rf"\multicolumn{{{width}}}{{c}}{{{head}}}" if width > 1 else head)
        if head:
            rules.append(rf"\cmidrule(lr){{{start}-{start + width - 1}}}")
        start += width
    return [" & ".join(top) + r" \\", " ".join(rules)] if rules else []


def _metric_label(key: str) -> str:
    if key == ORDER_COLUMN.key:
        return tex_escape(ORDER_COLUMN.label)
    return tex_escape(BY_KEY[key.partition("_")[2]].label)


def _table(
    caption: str, label: str, names: Sequence[str], columns: Sequence[str], body: list[str]
) -> list[str]:
    """A booktabs float, ``names`` columns left-aligned, then ``columns``: ``table*`` (the
    full width of a two-column page) past ``NARROW`` statistic columns, else ``table``."""
    float_env = "table" if len(columns) <= NARROW else "table*"
    lines = [rf"\begin{{{float_env}}}[htbp]", r"\centering", r"\small"]
    lines += [r"\setlength{\tabcolsep}{3pt}", rf"\caption{{{caption}}}", rf"\label{{{label}}}"]
    lines += [rf"\begin{{tabular}}{{{'l' * len(names) + 'c' * len(columns)}}}", r"\toprule"]
    lines += head_rows(len(names), columns)
    labels = [tex_escape(name) for name in names] + [_metric_label(key) for key in columns]
    lines += [" & ".join(labels) + r" \\", r"\midrule", *body]
    return [*lines, r"\bottomrule", r"\end{tabular}", rf"\end{{{float_env}}}"]


def measured_float(
    title: str,
    stem: str,
    rows: Sequence[BoardRow],
    columns: Sequence[str],
    chosen: Sequence[BoardRow] | None = None,
) -> list[str]:
    """The ``table`` float of the ``chosen`` measured rows (all by default), bold judged
    against all ``rows``."""
    picked = list(rows) if chosen is None else chosen
    bold = {key: significantly_best(rows, key) for key in columns}
    shown, shared = naming_columns(picked)
    marks = settings_marks(picked) if "settings" in shown else {}
    caption = f"{tex_escape(title)}. Test split, mean $\\pm$ sample std over seeds"
    caption += f" ({tex_escape('; '.join(shared))})" if shared else ""
    caption += r". R@k and mAP@10 in \%, higher is better; ranks, lower. " + BOLD_RULE
    caption += f" {NEAR_BEST_RULE}" if any(row.near_best for row in picked) else ""
    if len(picked) < len(rows):
        caption += f" {len(picked)} of the board's {len(rows)} rows; bold is judged against all."
    if marks:
        listed = "; ".join(f"{mark} {tex_escape(text)}" for text, mark in marks.items())
        caption += f" Settings away from the protocol's: {listed}."
    body = []
    for row in picked:
        names = _names(row)
        names["settings"] = marks.get(names["settings"], names["settings"])
        cells = [tex_escape(names[field]) for field in shown]
        cells += [stat_cell(row, key, bold[key] is row) for key in columns]
        run_hash = tex_escape(row.keys["protocol_hash"][:HASH_CHARS])
        body.append(" & ".join(cells) + rf" \\ % hash {run_hash}")
    labels = [NAMING_LABELS[field] for field in shown]
    return _table(caption, label_of(stem), labels, columns, body)


def reference_float(
    dataset: str, stem: str, ref: pd.DataFrame, columns: Sequence[str]
) -> list[str]:
    """The ``table`` float of the quoted published rows, their sources in its caption (their
    addresses in comments under it)."""
    numbers = sources(ref)
    cited = " ".join(
        f"[{n}] {tex_escape(source)}. {tex_escape(note)}"
        for (source, _, note), n in numbers.items()
    )
    caption = (
        f"Published results on {tex_escape(dataset)}, {QUOTED}, under their own protocols; "
        f"never ranked against measured rows (-- where not published). {cited}"
    )
    body = []
    for _, row in ref.iterrows():
        cells = [tex_escape(str(row["system"]))]
        cells.append(f"[{numbers[(row['source'], row['url'], row['note'])]}]")
        for key in columns:
            text = format_mean_std(row.get(key), row.get(f"{key}_std"), r" \pm ", DASH)
            cells.append(text if text == DASH else f"${text}$")
        parts = ", ".join(str(row[k]) for k in REFERENCE_KEYS[1:])  # in the system's name
        body.append(" & ".join(cells) + r" \\ " + _comment(parts))
    names = ["system", "source"]
    urls = [_comment(f"[{n}] {url}") for (_, url, _), n in numbers.items()]
    return [*_table(caption, f"{label_of(stem)}-quoted", names, columns, body), *urls]
