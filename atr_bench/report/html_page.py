"""The HTML leaderboard: one self-contained static page per board.

The page is one file: its style, its script (``page/board.js``) and the board's data (JSON,
``html_data``) inline, so it works opened from disk and on any static host, with no server and
no network. Its Content-Security-Policy allows nothing to be loaded and only its own script and
style (by their SHA-256) to run: text smuggled into a record cannot run or fetch anything even
if it got past the script, which only ever inserts text nodes.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from collections.abc import Sequence
from importlib.resources import files
from string import Template

import pandas as pd

from atr_bench.report.aggregate import Board, BoardRow
from atr_bench.report.html_data import page_data

_PAGE = files("atr_bench.report") / "page"


def _sha256(text: str) -> str:
    """A CSP source that allows exactly this inline script or style."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def script_json(value: object) -> str:
    """JSON that can sit inside a ``<script>`` element: no ``<``, ``>`` or ``&`` in it can
    close the element or open a comment (they are written as ``\\u003c`` and so on)."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_html(board: Board, rows: Sequence[BoardRow], ref: pd.DataFrame, header: str) -> str:
    """The whole HTML page of one board."""
    script = (_PAGE / "board.js").read_text(encoding="utf-8")
    style = (_PAGE / "board.css").read_text(encoding="utf-8")
    policy = (
        f"default-src 'none'; script-src {_sha256(script)}; style-src {_sha256(style)}; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    template = Template((_PAGE / "board.html").read_text(encoding="utf-8"))
    return template.substitute(
        policy=policy,
        title=html.escape(f"atr-bench leaderboard: {board.title}"),
        style=style,
        data=script_json(page_data(board, rows, ref, header)),
        script=script,
    )
