"""Every script under ``benchmarks/`` imports against the package as it is now, so a rename in
``atr_bench`` cannot leave a measurement script (run by hand, with data not here) broken."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = sorted(p.stem for p in BENCHMARKS.glob("*.py") if p.stem != "conftest")


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_imports(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    before = set(sys.modules)
    try:
        assert importlib.import_module(name).__name__ == name
    finally:  # forget the scripts (and only them) again
        for script in set(SCRIPTS) & (set(sys.modules) - before):
            del sys.modules[script]
