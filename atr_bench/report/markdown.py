"""The Markdown leaderboard: header line, measured table, quoted reference section."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from tabulate import tabulate

from atr_bench.report.aggregate import BoardRow
from atr_bench.report.definitions_table import (
    DEFINITIONS_TITLE,
    definition_notes,
    definition_tables,
)
from atr_bench.report.text_table import (
    NOTES,
    QUOTED,
    REFERENCE_PREFACE,
    Style,
    measured_table,
    notes_below,
    reference_table,
    sources,
)


def md_cell(text: str) -> str:
    """A Markdown table cell: a ``|`` or a line break in a value cannot split the row."""
    return text.replace("\r", " ").replace("\n", " ").replace("|", "\\|")


MARKDOWN = Style(pm=" ± ", dash="–", bold=lambda text: f"**{text}**", escape=md_cell, mark=" †")


def render_markdown(title: str, rows: Sequence[BoardRow], ref: pd.DataFrame, header: str) -> str:
    """The whole Markdown file of one board."""
    comment = header.replace("--!>", "- -!>").replace("-->", "- ->")  # cannot end it early
    lines = [f"<!-- {comment} -->", f"# Leaderboard: {title}", "", f"_{header}_", "", NOTES, ""]
    if rows:
        headers, body = measured_table(rows, MARKDOWN)
        lines.append(tabulate(body, headers, tablefmt="github", disable_numparse=True))
        lines += [line for note in notes_below(rows) for line in ("", note)]
        lines += _definitions_section(rows)
    else:
        lines.append("No usable run records for this dataset.")
    if not ref.empty:
        lines += ["", f"## Reference results ({QUOTED})", ""]
        lines.append(REFERENCE_PREFACE)
        lines.append("")
        headers, body = reference_table(ref, MARKDOWN)
        lines.append(tabulate(body, headers, tablefmt="github", disable_numparse=True))
        lines.append("")
        for (source, url, note), number in sources(ref).items():
            lines.append(f"- [{number}] {source}, <{url}>. {note}")
    return "\n".join(lines) + "\n"


def _definitions_section(rows: Sequence[BoardRow]) -> list[str]:
    """The rows under each metric definition, per direction (none for older records)."""
    tables = definition_tables(rows, MARKDOWN)
    if not tables:
        return []
    lines = ["", f"## {DEFINITIONS_TITLE}"]
    lines += [line for note in definition_notes(rows) for line in ("", note)]
    for direction, (headers, body) in tables:
        lines += ["", f"### {direction}", ""]
        lines.append(tabulate(body, headers, tablefmt="github", disable_numparse=True))
    return lines
