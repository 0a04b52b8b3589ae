"""Start-up: the command line's parser, every ``--help`` and ``atr-bench list`` load none of
the heavy libraries; a subcommand imports what it needs when it runs. Checked in a fresh
interpreter, on ``sys.modules`` rather than on time."""

from __future__ import annotations

import argparse
import subprocess
import sys

from atr_bench.cli.main import build_parser

HEAVY = (
    "torch",
    "librosa",
    "gensim",
    "scipy",
    "pandas",
    "h5py",
    "matplotlib",
    "numpy",
    "transformers",
    "huggingface_hub",
)


def heavy_after(code: str) -> list[str]:
    """The heavy libraries a fresh interpreter has loaded after running ``code`` (its own
    output goes to a buffer; only the list is printed)."""
    probe = "\n".join(
        [
            "import contextlib, io, sys",
            "with contextlib.redirect_stdout(io.StringIO()):",
            *(f"    {line}" for line in code.splitlines()),
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))",
        ]
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_importing_the_command_line_and_building_its_parser_loads_no_heavy_library():
    assert heavy_after("from atr_bench.cli.main import build_parser\nbuild_parser()") == []


def test_list_loads_every_plugin_without_a_heavy_library():
    code = "from atr_bench.cli.main import main\nassert main(['list']) == 0"
    assert heavy_after(code) == []


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[list[str]]:
    """Every subcommand's words (``["data", "export"]``), nested ones too."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += [[*path, name], *commands(sub, (*path, name))]
    return found


def test_every_subcommand_help_loads_no_heavy_library():
    every = commands(build_parser())
    assert {"run", "sweep", "list", "bench"} <= {words[0] for words in every}
    code = "\n".join(
        [
            "from atr_bench.cli.main import main",
            f"for words in {every!r}:",
            "    try:",
            "        main([*words, '--help'])",
            "    except SystemExit as done:",
            "        assert done.code == 0, (words, done.code)",
        ]
    )
    assert heavy_after(code) == []
