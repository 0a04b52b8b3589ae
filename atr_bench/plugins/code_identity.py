"""A component's code identity: its distribution, version and a digest of its source files,
so that changed plugin code gives a new run id (``run.hashing``).

Its code is the module its spec's ``build`` comes from (``Lazy.module``, else the callable's
``__module__``) and the module that registered it (the entry point's), plus, transitively,
the modules they import from the same package: the plugin's own top-level package, or
``atr_bench.components`` for the built-ins (the harness core is not a component). Files are
found and read with ``ast``, never imported, so the registry stays free of torch; for an
editable install they are the current files. Computed once per process.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from atr_bench.plugins.lazy import Lazy
from atr_bench.plugins.registry import OWN_DISTRIBUTION, Found

BUILTIN_SCOPE = "atr_bench.components"
"""The package whose modules make up the built-in components' code."""


@dataclass(frozen=True)
class CodeIdentity:
    """A component's distribution and version, and the SHA-256 of its modules' sources."""

    distribution: str
    version: str
    digest: str

    def as_dict(self) -> dict[str, str]:
        return {"distribution": self.distribution, "version": self.version, "digest": self.digest}


def code_identity(found: Found) -> CodeIdentity:
    """The code identity of a registry entry (cached per process)."""
    origin = found.origin
    return _identity(origin.distribution, origin.version, *_roots_and_scope(found))


def code_files(found: Found) -> dict[str, Path]:
    """The modules (name -> source file) a registry entry's code identity covers."""
    return _closure(*_roots_and_scope(found))


def _roots_and_scope(found: Found) -> tuple[tuple[str, ...], str]:
    """The build's and the registering module, and the package their imports are followed in."""
    origin = found.origin
    roots = tuple(m for m in (_build_module(found.spec.build), origin.module) if m)
    scope = BUILTIN_SCOPE if _own(origin.distribution) else (roots or ("",))[-1].split(".")[0]
    return roots, scope


def _own(distribution: str) -> bool:
    return distribution.replace("_", "-").lower() == OWN_DISTRIBUTION


def _build_module(build: Any) -> str | None:
    """The module a spec's ``build`` comes from, without importing it."""
    if isinstance(build, Lazy):
        return build.module
    return getattr(build, "__module__", None) or type(build).__module__


@cache
def _identity(distribution: str, version: str, roots: tuple[str, ...], scope: str) -> CodeIdentity:
    digest = hashlib.sha256()
    for name, path in sorted(_closure(roots, scope).items()):
        digest.update(f"{name}\0{hashlib.sha256(path.read_bytes()).hexdigest()}\n".encode())
    return CodeIdentity(distribution, version, digest.hexdigest())


def _closure(roots: tuple[str, ...], scope: str) -> dict[str, Path]:
    """Source file of each root module and of every module they import from ``scope``."""
    files: dict[str, Path] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in files:
            continue
        path = _source_file(name)
        if path is None:
            continue
        files[name] = path
        todo += [m for m in _imports(name, path, scope) if _within(m, scope)]
    return files


def _source_file(name: str) -> Path | None:
    """The ``.py`` file of module ``name``, found from its top-level package's location (only
    a top-level name is looked up, so no package is imported); None if there is none."""
    top, *rest = name.split(".")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if not rest:
        origin = Path(spec.origin) if spec.origin else None
        return origin if origin is not None and origin.suffix == ".py" else None
    for location in spec.submodule_search_locations or ():
        base = Path(location, *rest)
        for candidate in (base.parent / f"{base.name}.py", base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def _within(name: str, scope: str) -> bool:
    return name == scope or name.startswith(scope + ".")


def _imports(name: str, path: Path, scope: str) -> list[str]:
    """Modules ``name`` (at ``path``) imports, absolute; ``from pkg import x`` gives ``pkg.x``
    when that is a module of ``scope``, else ``pkg``."""
    try:
        tree = ast.parse(path.read_bytes(), str(path))
    except SyntaxError:
        return []
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                module = _within(sub, scope) and _source_file(sub) is not None
                found.append(sub if module else base)
    return found
