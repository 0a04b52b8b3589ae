"""Reading the harness's JSON files: one place that refuses what is not a regular file (a FIFO
would block the read forever, a folder raises) and turns every way JSON text can be unreadable
(bad bytes, bad syntax, nesting too deep for Python) into one line naming the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from atr_bench.errors import AtrBenchError


def check_regular(path: Path, fix: str) -> Path:
    """``path`` unless something other than a regular file is there (a folder, a FIFO, a
    device): that is an error ending in ``fix``. A missing path is left to the reader."""
    path = Path(path)
    if path.exists() and not path.is_file():
        kind = "a folder" if path.is_dir() else "not a regular file"
        raise AtrBenchError(f"{path}: {kind}; {fix}")
    return path


def read_json(path: Path, what: str, fix: str) -> Any:
    """The JSON value in ``path``; an error ``<path>: unreadable <what> (<why>); <fix>`` for
    a missing, unreadable or malformed file (``FileNotFoundError`` passes through, for
    readers that say how to make the file)."""
    path = check_regular(path, fix)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise AtrBenchError(f"{path}: unreadable {what} ({_why(exc)}); {fix}") from None
    return parse_json(data, path, what, fix)


def parse_json(data: bytes, where: Path | str, what: str, fix: str) -> Any:
    """The JSON value in ``data``, read from ``where`` (a file, or a member of a bundle); every
    way it can be unreadable is an error ``<where>: unreadable <what> (<why>); <fix>``."""
    try:
        return json.loads(data.decode("utf-8"))
    except RecursionError:
        raise AtrBenchError(f"{where}: unreadable {what} (nested too deeply); {fix}") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise AtrBenchError(f"{where}: unreadable {what} ({_why(exc)}); {fix}") from None


def _why(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
