"""The LaTeX leaderboard: a fragment for ``\\input``, measured tabular then the quoted one."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from tabulate import tabulate

from atr_bench.report.aggregate import BoardRow
from atr_bench.report.text_table import (
    NOTES,
    QUOTED,
    Style,
    measured_table,
    notes_below,
    reference_table,
    sources,
)

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
    "⚠": "(!)",  # the unsound mark: not in pdflatex's default fonts
}


def tex_escape(text: str) -> str:
    """Escape the characters LaTeX treats specially."""
    return "".join(_TEX_SPECIAL.get(ch, ch) for ch in text)


LATEX = Style(
    pm=r" $\pm$ ",
    dash="--",
    bold=lambda text: rf"\textbf{{{text}}}",
    escape=tex_escape,
    mark=r"$^\dagger$",
)


def render_latex(title: str, rows: Sequence[BoardRow], ref: pd.DataFrame, header: str) -> str:
    """The whole LaTeX fragment of one board."""
    lines = [f"% {header}", f"% Leaderboard: {title}. {NOTES}".replace("±", "+/-")]
    if rows:
        headers, body = measured_table(rows, LATEX)
        lines.append(tabulate(body, headers, tablefmt="latex_raw", disable_numparse=True))
        lines += [f"% {note}".replace("†", "dagger") for note in notes_below(rows)]
    if not ref.empty:
        lines += [
            "",
            f"% Reference results ({QUOTED}): never ranked against the measured rows.",
            rf"\paragraph{{Reference results ({QUOTED})}}",
        ]
        headers, body = reference_table(ref, LATEX)
        lines.append(tabulate(body, headers, tablefmt="latex_raw", disable_numparse=True))
        lines.append(r"\begin{itemize}")
        for (source, url, note), number in sources(ref).items():
            lines.append(
                rf"\item[{{[{number}]}}] {tex_escape(source)}, \url{{{url}}}. {tex_escape(note)}"
            )
        lines.append(r"\end{itemize}")
    return "\n".join(lines) + "\n"
