"""Where a board came from: the commands that make it again, when its runs were made and on
what machines, all read from its records, so the same records give the same files. The Markdown
and LaTeX files state it in their first line; the CSV, which must stay plain data, has it in a
JSON file beside it (``<stem>.provenance.json``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from atr_bench import __version__
from atr_bench.files.atomic import write_json
from atr_bench.report.one_line import one_line

SIDECAR = ".provenance.json"
"""The suffix of a board's provenance file, after its stem."""


@dataclass(frozen=True)
class Provenance:
    """How one board was made."""

    commands: tuple[str, ...]
    """Run in order, they make the board again: its runs, then the leaderboard call (or the
    one command the user gave instead)."""
    runs_made: str
    """When the board's runs were made (``runs_made``)."""
    machines: tuple[str, ...]
    """The devices the rows' runs were made on, in words."""
    unsettable: tuple[str, ...] = ()
    """``key=value`` settings of the runs that no command-line flag sets."""

    def line(self) -> str:
        """The one line heading a board's text files."""
        text = f"reproduce with: {' && '.join(self.commands)}"
        if self.unsettable:
            text += f" (set outside the command line: {', '.join(self.unsettable)})"
        machines = "; ".join(self.machines) or "none"
        return one_line(f"{text} | runs made {self.runs_made} | machines: {machines}")

    def as_json(self, title: str, files: Sequence[str]) -> dict[str, Any]:
        """The sidecar's content: this, the board's title and the files it was written as."""
        return {
            "board": title,
            "reproduce": list(self.commands),
            "set_outside_the_command_line": list(self.unsettable),
            "runs_made": self.runs_made,
            "machines": list(self.machines),
            "atr_bench": __version__,
            "files": list(files),
        }


def runs_made(created: Iterable[str | None]) -> str:
    """``YYYY-MM-DD HH:MM UTC``, of the first and last run when they differ; "unknown" for
    records that do not say (the time a board is written would make every rebuild differ)."""
    times = []
    for stamp in created:
        try:
            times.append(datetime.fromisoformat(stamp or "").astimezone(UTC))
        except ValueError:
            continue
    if not times:
        return "unknown"
    first, last = (t.strftime("%Y-%m-%d %H:%M UTC") for t in (min(times), max(times)))
    return first if first == last else f"{first} to {last}"


def write_sidecar(path: Path, provenance: Provenance, title: str, files: Sequence[str]) -> Path:
    """Write the provenance JSON of a board atomically."""
    return write_json(path, provenance.as_json(title, files))
