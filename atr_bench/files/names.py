"""Names that become parts of file paths (plugin names, run ids, dataset names in records, clip
ids): checked where they enter, and every path built from one checked to stay in its folder."""

from __future__ import annotations

import re
from pathlib import Path

from atr_bench.errors import AtrBenchError

NAME = re.compile(r"[A-Za-z0-9]+(?:[_-][A-Za-z0-9]+)*")
NAME_RULE = "letters and digits, with single '_' or '-' between them"
"""The one rule for a name that a plugin, a record or a run id uses: the registry, the
conformance kit and the scaffold all apply it (a plugin name also makes a distribution and a
package name, which a separator at the end, or two in a row, would break)."""
MAX_NAME = 64
MAX_RUN_ID = 200


def is_name(name: object, longest: int = MAX_NAME) -> bool:
    """A short identifier: safe as a file name and in a Markdown or LaTeX table."""
    return isinstance(name, str) and len(name) <= longest and NAME.fullmatch(name) is not None


def check_name(name: object, what: str, longest: int = MAX_NAME) -> str:
    """``name`` if it is a short identifier, else a one-line error naming ``what`` it is."""
    if not is_name(name, longest):
        raise AtrBenchError(f"{what} {name!r} is not a name: use up to {longest} {NAME_RULE}")
    return str(name)


def clip_id_problem(clip_id: str) -> str | None:
    """Why ``clip_id`` cannot name a clip's file or HDF5 entry (a separator, NUL, ``.``,
    ``..``), or None. Clip ids are otherwise free: Clotho's hold spaces and commas."""
    if any(ch in clip_id for ch in "/\\\0") or clip_id in (".", ".."):
        return "holds a path separator, a NUL or is '.'/'..'"
    return None


def inside(folder: Path, filename: str) -> Path:
    """``folder / filename``, refused unless it is a file directly in ``folder``."""
    path = Path(folder) / filename
    if path.name != filename or path.resolve().parent != Path(folder).resolve():
        raise AtrBenchError(f"{filename!r} would be written outside {folder}; refusing")
    return path
