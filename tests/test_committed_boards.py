"""Every board committed in ``leaderboards/`` rebuilds byte for byte from the records committed
beside it, with the command its provenance states: a change to how boards are made shows here
until the boards are made again.

Text files (Markdown, CSV, LaTeX, HTML, provenance) are compared byte for byte; the PNGs are
checked to be written under the same names (their pixels depend on the matplotlib and fonts
installed, which a clean install may not pin)."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import pytest

from atr_bench.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
BOARDS = ROOT / "leaderboards"
SIDECARS = sorted(BOARDS.glob("*.provenance.json"))


def _leaderboard_call(sidecar: Path) -> list[str]:
    """The last command of a board's provenance: the ``atr-bench leaderboard`` call."""
    call = json.loads(sidecar.read_text(encoding="utf-8"))["reproduce"][-1]
    words = shlex.split(call)
    assert words[:2] == ["atr-bench", "leaderboard"], call
    return words[2:]


def _runs_dirs(words: list[str]) -> list[str]:
    return [words[i + 1] for i, word in enumerate(words) if word == "--runs-dir"]


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The boards made again, in a copy of the checkout's layout, by the stated calls."""
    work = tmp_path_factory.mktemp("checkout")
    calls = {tuple(_leaderboard_call(sidecar)) for sidecar in SIDECARS}
    for call in calls:
        for runs in _runs_dirs(list(call)):
            if not (work / runs).exists():
                shutil.copytree(ROOT / runs, work / runs)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(work)
        for call in sorted(calls):
            assert main(["leaderboard", *call, "--overwrite"]) == 0
    return work / "leaderboards"


def test_boards_are_committed_with_their_provenance() -> None:
    assert SIDECARS, "no committed board"
    for sidecar in SIDECARS:
        files = json.loads(sidecar.read_text(encoding="utf-8"))["files"]
        assert {f"{sidecar.name.removesuffix('.provenance.json')}.md", sidecar.name} <= set(files)
        assert all((BOARDS / name).is_file() for name in files), sidecar


@pytest.mark.parametrize("sidecar", SIDECARS, ids=lambda p: p.name.split(".")[0])
def test_a_committed_board_rebuilds_byte_for_byte(rebuilt: Path, sidecar: Path) -> None:
    files = json.loads(sidecar.read_text(encoding="utf-8"))["files"]
    for name in files:
        made = rebuilt / name
        assert made.is_file(), f"{name} was not made again"
        if name.endswith(".png"):
            continue
        assert made.read_bytes() == (BOARDS / name).read_bytes(), f"{name} differs when rebuilt"


def test_nothing_else_in_the_boards_folder_claims_to_be_a_board(rebuilt: Path) -> None:
    made = {p.name for p in rebuilt.iterdir() if p.is_file()}
    committed_like = {
        p.name for p in BOARDS.iterdir() if p.is_file() and p.name.startswith("synthcaps-")
    }
    assert committed_like - {"synthcaps-tuning.md"} == made
