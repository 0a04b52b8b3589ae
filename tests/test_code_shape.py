"""The package's shape rules, checked so they stay true: small functions, every hook a
plugin implements documented where it is declared, the public types importable from where the
plugin guide says."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import atr_bench
from atr_bench.plugins import hookspecs

PACKAGE = Path(atr_bench.__file__).parent
LONGEST = 60


def test_no_function_is_over_sixty_lines() -> None:
    long = [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} "
        f"({node.end_lineno - node.lineno + 1} lines)"
        for path in sorted(PACKAGE.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (node.end_lineno or node.lineno) - node.lineno + 1 > LONGEST
    ]
    assert long == []


def test_every_hook_says_what_it_returns_and_what_build_gives() -> None:
    hooks = [f for name, f in vars(hookspecs).items() if name.startswith("atr_bench_")]
    assert len(hooks) >= 5
    for hook in hooks:
        doc = inspect.getdoc(hook) or ""
        assert ("spec.build(" in doc and "contract." in doc) or "ProtocolSpec" in doc, hook.__name__


def test_the_guides_public_types_are_exported() -> None:
    """Every name the guide's table of what a plugin imports from ``atr_bench`` lists is
    there."""
    guide = (PACKAGE.parent / "docs" / "writing-plugins.md").read_text(encoding="utf-8")
    table = guide.split("A plugin imports only these, from `atr_bench` itself:", 1)[1]
    rows = [line for line in table.split("\n\n", 2)[1].splitlines() if line.startswith("| `")]
    names = {name for row in rows for name in re.findall(r"`(\w+)`", row.split("|")[1])}
    assert {"ProtocolSpec", "PoolingSpec", "hookimpl"} <= names
    assert sorted(name for name in names if not hasattr(atr_bench, name)) == []
