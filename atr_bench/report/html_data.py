"""What a board's HTML page shows, as plain data for its script: the cells exactly as the
Markdown board writes them (same functions, same texts, bold kept apart from the text; its
measured table, its tables of the metric definitions side by side and its quoted rows), what
each row is filtered by, and per row what the page shows on demand: its provenance and its
validation curves."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from atr_bench.record.metric_names import RANK_METRICS
from atr_bench.record.run_record import RunRecord
from atr_bench.report.aggregate import Board, BoardRow
from atr_bench.report.columns import STAT_COLUMNS
from atr_bench.report.curves import CURVE_METRICS, row_curve
from atr_bench.report.definitions_table import (
    DEFINITIONS_TITLE,
    definition_notes,
    definition_tables,
)
from atr_bench.report.markdown import MARKDOWN
from atr_bench.report.one_line import one_line
from atr_bench.report.text_table import (
    NOTES,
    QUOTED,
    REFERENCE_PREFACE,
    measured_table,
    notes_below,
    reference_table,
    sources,
)

BOLD = "\ue000"
"""Put before a best value's text by the page's cell style; taken off into the cell's ``bold``
flag (names cannot carry it: the style's escape removes it from them)."""


def _plain(text: str) -> str:
    """A name or header as the page shows it: as the Markdown cell reads (``md_cell``: a line
    break is a space), and unable to fake a bold mark."""
    return text.replace("\r", " ").replace("\n", " ").replace(BOLD, "")


PAGE = dataclasses.replace(MARKDOWN, bold=lambda text: BOLD + text, escape=_plain)
"""The Markdown board's style (its ± sign, dash and † mark), bold flagged rather than written."""

FILTERS = ("dataset", "protocol", "extractor", "pooling")
"""What the page's rows can be filtered by."""

_NUMBER = re.compile(r"\[?(-?\d[\d,]*(?:\.\d+)?)(?=$|[\s,\]])")
_LOWER_IS_BETTER = {c.label for c in STAT_COLUMNS if c.lower_is_better}


def sort_value(text: str) -> float | None:
    """The number a cell's text starts with (a mean, an interval's low end, a count), or None
    (also for a name that only starts with digits, such as a hash)."""
    match = _NUMBER.match(text)
    return float(match.group(1).replace(",", "")) if match else None


def _cell(text: str) -> dict[str, Any]:
    bold = text.startswith(BOLD)
    text = text.removeprefix(BOLD)
    return {"text": text, "bold": bold, "sort": sort_value(text)}


def _cells(texts: Sequence[Sequence[str]]) -> list[list[dict[str, Any]]]:
    """A table body's cells as the page draws them."""
    return [[_cell(text) for text in cells] for cells in texts]


def _table(headers: Sequence[str], texts: Sequence[Sequence[str]]) -> dict[str, Any]:
    """A table the page draws as it is (not sorted or expanded): its columns and cells."""
    body = _cells(texts)
    return {"columns": _columns(headers, body), "rows": body}


def _columns(headers: Sequence[str], body: Sequence[Sequence[dict[str, Any]]]) -> list[dict]:
    """Per column: its label, whether it sorts by number (every cell with a value starts with
    one) and whether lower is better (which way a first click sorts)."""
    out = []
    for i, label in enumerate(headers):
        valued = [row[i] for row in body if row[i]["text"] != PAGE.dash]
        numeric = bool(valued) and all(cell["sort"] is not None for cell in valued)
        out.append({"label": label, "numeric": numeric, "lower": label in _LOWER_IS_BETTER})
    return out


def page_data(
    board: Board, rows: Sequence[BoardRow], ref: pd.DataFrame, header: str
) -> dict[str, Any]:
    """Everything the page of one board shows."""
    headers, texts = measured_table(rows, PAGE) if rows else ([], [])
    body = _cells(texts)
    return {
        "title": board.title,
        "header": header,
        "notes": [NOTES],
        "notes_below": notes_below(rows) if rows else [],
        "test_set": _test_set(board),
        "smoke": board.smoke,
        "columns": _columns(headers, body),
        "filters": list(FILTERS),
        "rows": [_row(board, row, cells, header) for row, cells in zip(rows, body, strict=True)],
        "definitions": _definitions(rows),
        "reference": _reference(ref),
    }


def _test_set(board: Board) -> str:
    """Which test set the board's rows were tested on, in words."""
    if not board.test_set:
        return "not recorded (records older than test-set digests)"
    return f"{board.test_label} (digest {board.test_set})"


def _row(board: Board, row: BoardRow, cells: list[dict], header: str) -> dict[str, Any]:
    protocol = row.runs[-1].protocol_label if row.runs else board.protocol
    return {
        "cells": cells,
        "filters": {
            "dataset": board.dataset,
            "protocol": protocol,
            "extractor": row.keys["extractor"],
            "pooling": row.keys["pooling"],
        },
        "marks": {
            "single_seed": len(row.seeds) == 1,
            "unsound": bool(row.unsound),
            "zero_shot": row.zero_shot,
        },
        "name": row.name,
        "provenance": _provenance(row, protocol, header),
        "runs": [_run(run) for run in row.runs],
        "configuration": _configuration(row.runs),
        "curves": _curves(row),
    }


def _pairs(values: Mapping[str, Any] | None) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted((values or {}).items()))


def _provenance(row: BoardRow, protocol: str, header: str) -> list[tuple[str, str]]:
    """(label, text) of what produced the row, as the page lists it."""
    last = row.runs[-1] if row.runs else None
    entries = [
        ("protocol", f"{protocol}, hash {row.keys['protocol_hash']}"),
        ("settings", row.settings or "the protocol's defaults"),
        ("code", row.code or "not recorded (older records)"),
        ("machines", "; ".join(sorted(row.devices)) or "not recorded"),
        ("execution", _pairs(last.execution if last else None) or "not recorded"),
        ("software", _pairs(last.versions if last else None) or "not recorded"),
        ("test coverage", _coverage(last) or "not recorded"),
        ("board made with", header),
    ]
    if row.unsound:
        entries.append(("unsound", ", ".join(row.unsound)))
    return [(label, one_line(str(text))) for label, text in entries]


def _coverage(record: RunRecord | None) -> str:
    """The record's test coverage as its run logged it ("" when it says none)."""
    test = ((record.coverage if record else None) or {}).get("test")
    return str(test.get("text", "")) if isinstance(test, dict) else ""


def _run(record: RunRecord) -> dict[str, str]:
    return {
        "seed": str(record.seed),
        "run_id": one_line(record.run_id or "not recorded"),
        "created": one_line(record.created or "not recorded"),
        "device": one_line(record.device or "not recorded"),
    }


def _configuration(runs: Sequence[RunRecord]) -> str:
    """The resolved configuration of the row's runs (one hash, so one), as indented JSON."""
    config = runs[-1].config if runs else None
    return json.dumps(config, indent=1, sort_keys=True, default=str) if config else ""


def _curves(row: BoardRow) -> list[dict[str, Any]]:
    """The row's validation curves (mean and std over its seeds per epoch), one per panel."""
    out = []
    for direction, metric in CURVE_METRICS:
        curve = row_curve(row.val_curves, direction, metric)
        if not curve.epochs:
            continue
        unit = "rank" if metric in RANK_METRICS else "%"
        out.append(
            {
                "title": f"validation {direction} {metric} ({unit})",
                "epochs": list(curve.epochs),
                "mean": list(curve.mean),
                "std": list(curve.std),
                "seeds": curve.seeds,
            }
        )
    return out


def _definitions(rows: Sequence[BoardRow]) -> dict[str, Any] | None:
    """The rows under each metric definition, per direction, with their notes, as the
    Markdown board shows them (row i of each table is the board's row i); None where no
    record holds the other definitions (older records), as the Markdown then has none."""
    tables = definition_tables(rows, PAGE)
    if not tables:
        return None
    return {
        "title": DEFINITIONS_TITLE,
        "notes": definition_notes(rows),
        "tables": [
            {"direction": direction, **_table(headers, texts)}
            for direction, (headers, texts) in tables
        ],
    }


def _reference(ref: pd.DataFrame) -> dict[str, Any] | None:
    """The quoted rows' table and their sources, as the Markdown board shows them."""
    if ref.empty:
        return None
    return {
        "title": f"Reference results ({QUOTED})",
        "preface": REFERENCE_PREFACE,
        **_table(*reference_table(ref, PAGE)),
        "sources": [
            {"number": number, "source": str(source), "url": str(url), "note": str(note)}
            for (source, url, note), number in sources(ref).items()
        ],
    }
