"""Where ``leaderboard`` and ``bench`` write when no ``--out`` is given: a new folder under the
current one, named for the command and the time (``leaderboard-20261203-101500``), that keeps
itself out of git with a ``.gitignore`` of ``*`` (as virtual environments and tool caches
do), so running a command in a checkout changes nothing ``git status`` shows. Files are never
written over without ``--overwrite`` (``files.replacing``)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from atr_bench.cli.options import path_arg
from atr_bench.files.atomic import atomic_write

IGNORE_ALL = "# made by atr-bench: git ignores this folder; delete this file to commit it\n*\n"


def add_out_arguments(parser: argparse.ArgumentParser, command: str, what: str) -> None:
    """``--out`` (a folder) and ``--overwrite``, worded for ``command``."""
    parser.add_argument(
        "--out",
        type=path_arg,
        default=None,
        help=f"the folder to write {what} in (default: a new folder {command}-<UTC time> "
        "here, which git ignores)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace files --out already has (default: refuse, before writing anything)",
    )


def new_folder(command: str, now: datetime | None = None) -> Path:
    """``./<command>-<UTC time>``, with ``-2``, ``-3``, ... when that is taken (not made)."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    path, n = Path(f"{command}-{stamp}"), 1
    while path.exists():
        n += 1
        path = Path(f"{command}-{stamp}-{n}")
    return path


def keep_out_of_git(folder: Path) -> Path | None:
    """Write ``folder/.gitignore`` ignoring the whole folder; None when the folder was never
    made (nothing was written)."""
    if not folder.is_dir():
        return None
    return atomic_write(folder / ".gitignore", lambda tmp: tmp.write_text(IGNORE_ALL))
