"""``atr-bench new-plugin KIND NAME``: write a plugin distribution that installs and runs as is.

The result is what an outside author ships: a ``pyproject.toml`` with the ``atr_bench`` entry
point, a module implementing the hook, and a test running the harness's conformance kit.
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import tempfile
from pathlib import Path
from string import Template

from atr_bench import __version__
from atr_bench.cli.options import path_arg
from atr_bench.dev.scaffold_templates import INIT, KINDS, PYPROJECT, README
from atr_bench.errors import AtrBenchError
from atr_bench.files.atomic import current_umask
from atr_bench.files.names import MAX_NAME, NAME_RULE, is_name

_log = logging.getLogger(__name__)


def _requirement() -> str:
    """``atr-bench>=X.Y`` for the running release (any version from a source checkout)."""
    release = re.match(r"\d+\.\d+", __version__)
    return f"atr-bench>={release.group()}" if release else "atr-bench"


def new_plugin(kind: str, name: str, dest: Path) -> Path:
    """Write the ``kind`` plugin ``name`` as ``dest/atr-bench-<name>``; return that folder."""
    if kind not in KINDS:
        raise AtrBenchError(f"new-plugin: unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    if not is_name(name):
        raise AtrBenchError(
            f"new-plugin: name {name!r} must be up to {MAX_NAME} {NAME_RULE} (the rule every "
            "plugin name follows), e.g. new-plugin pooling my_pool"
        )
    _refuse_a_builtin(kind, name)
    suffix, summary, flag, plugin, test = KINDS[kind]
    words = re.split(r"[_-]", name)
    distribution = "atr-bench-" + "-".join(words).lower()
    root = Path(dest) / distribution
    if root.exists():
        raise AtrBenchError(f"new-plugin: {root} already exists; pick another name or --dest")
    package = "atr_bench_" + "_".join(words).lower()
    values = {
        "name": name,
        "package": package,
        "distribution": distribution,
        "cls": _class_name(words, suffix),
        "summary": summary[0].upper() + summary[1:],
        "requires": _requirement(),
        "run": f"atr-bench run {flag} {name}",
    }
    files = {
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        f"{package}/__init__.py": INIT,
        f"{package}/plugin.py": plugin,
        f"tests/test_{'_'.join(words).lower()}.py": test,
    }
    Path(dest).mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{distribution}.", dir=dest))
    try:  # written whole, then renamed: a failure leaves nothing that blocks a retry
        for relative, template in files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(Template(template).substitute(values))
        staging.chmod(0o777 & ~current_umask())
        staging.rename(root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root


def _class_name(words: list[str], suffix: str) -> str:
    """``MyPoolPooling`` from ``my_pool``; a name that starts with a digit gets the suffix
    first, so the class name is an identifier."""
    camel = "".join(word[:1].upper() + word[1:] for word in words)
    return camel + suffix if camel[:1].isalpha() else suffix + camel


def _refuse_a_builtin(kind: str, name: str) -> None:
    """A plugin named as a built-in of its kind would clash with it (neither could be used)."""
    from atr_bench.plugins.registry import OWN_DISTRIBUTION, registry

    for found in registry().all(kind.replace("-", "_")):
        if found.spec.name == name and found.origin.distribution == OWN_DISTRIBUTION:
            raise AtrBenchError(
                f"new-plugin: atr-bench has a built-in {kind} called {name!r}; a plugin of that "
                "name would clash with it, so pick another name"
            )


def cmd_new_plugin(args: argparse.Namespace) -> int:
    root = new_plugin(args.kind, args.name, args.dest)
    flag = KINDS[args.kind][2]
    _log.info("wrote %s", root)
    print(f"next: pip install -e {root} && pytest {root / 'tests'}")
    print(f"then: atr-bench run {flag} {args.name}")
    return 0


def add_new_plugin_parser(sub: argparse._SubParsersAction) -> None:
    """Add the ``new-plugin`` subcommand to the ``atr-bench`` parser."""
    p = sub.add_parser("new-plugin", help="write a new plugin distribution to start from")
    p.add_argument("kind", choices=sorted(KINDS), help="what the plugin adds")
    p.add_argument("name", help="its name, as typed after --pooling etc. (a-z, 0-9, _)")
    p.add_argument("--dest", type=path_arg, default=Path("."), help="parent folder (default: .)")
    p.set_defaults(func=cmd_new_plugin)
