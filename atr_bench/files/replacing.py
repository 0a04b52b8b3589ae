"""Outputs never replace files without being told to: before writing anything, a command that
writes reports checks which of its files exist already and, unless ``--overwrite``, stops with
one line naming the first (and whether git tracks it, so a checkout's committed tables are not
silently changed)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path

from atr_bench.errors import AtrBenchError

GIT_SECONDS = 10
"""How long ``git ls-files`` may take before the files are taken as untracked."""


def tracked_by_git(path: Path) -> bool:
    """Whether git tracks the file ``path`` in the repository holding its folder; False when
    that folder is in no repository or git is not installed."""
    try:
        listed = subprocess.run(
            ["git", "-C", str(path.parent), "ls-files", "--error-unmatch", "--", path.name],
            capture_output=True,
            timeout=GIT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return listed.returncode == 0


def refuse_replacing(paths: Iterable[Path], flag: str = "--overwrite") -> None:
    """An error naming the first of ``paths`` that exists (of files of one folder), saying
    whether git tracks it and that ``flag`` replaces them; nothing when none exists."""
    there = [Path(p) for p in paths if Path(p).exists()]
    if not there:
        return
    first = there[0]
    tracked = " (a file tracked by git)" if tracked_by_git(first) else ""
    more = f" and {len(there) - 1} more of the files to write" if len(there) > 1 else ""
    raise AtrBenchError(
        f"{first}: already there{tracked}{more}; pass {flag} to replace them, or give another --out"
    )
