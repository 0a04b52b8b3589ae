"""Where a board came from: the commands that make it again, when it was made and on what
machines. The Markdown and LaTeX files state it in their first line; the CSV, which must stay
plain data, has it in a JSON file beside it (``<stem>.provenance.json``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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
    generated: str
    """``YYYY-MM-DD HH:MM UTC``."""
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
        return one_line(f"{text} | generated {self.generated} | machines: {machines}")

    def as_json(self, title: str, files: Sequence[str]) -> dict[str, Any]:
        """The sidecar's content: this, the board's title and the files it was written as."""
        return {
            "board": title,
            "reproduce": list(self.commands),
            "set_outside_the_command_line": list(self.unsettable),
            "generated": self.generated,
            "machines": list(self.machines),
            "atr_bench": __version__,
            "files": list(files),
        }


def write_sidecar(path: Path, provenance: Provenance, title: str, files: Sequence[str]) -> Path:
    """Write the provenance JSON of a board atomically."""
    return write_json(path, provenance.as_json(title, files))
