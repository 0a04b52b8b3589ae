"""The plugin manager: built-ins and installed entry points, every spec found by name."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any

import pluggy

from atr_bench import PROJECT
from atr_bench.errors import AtrBenchError
from atr_bench.files.names import NAME_RULE, is_name
from atr_bench.plugins import hookspecs
from atr_bench.plugins.specs import (
    DatasetSpec,
    ExtractorSpec,
    PoolingSpec,
    ProtocolSpec,
    Spec,
    TextEncoderSpec,
)

ENV_FILTER = "ATR_BENCH_PLUGINS"
"""Comma-separated entry-point names: when set, only these installed plugins load."""

OWN_DISTRIBUTION = "atr-bench"
"""The built-ins are this distribution's own entry points in the group: registered exactly as a
third party's plugin is, and always loaded (the filter applies to other distributions)."""

KINDS: dict[str, tuple[str, type[Spec]]] = {
    "extractor": ("atr_bench_extractors", ExtractorSpec),
    "pooling": ("atr_bench_poolings", PoolingSpec),
    "text_encoder": ("atr_bench_text_encoders", TextEncoderSpec),
    "dataset": ("atr_bench_datasets", DatasetSpec),
    "protocol": ("atr_bench_protocols", ProtocolSpec),
}


@dataclass(frozen=True)
class Origin:
    """Where a spec came from: the plugin (entry-point or module name) and its distribution."""

    plugin: str
    distribution: str
    version: str
    module: str = ""
    """The module that registered the spec (the entry point's); part of its code identity."""

    def as_dict(self) -> dict[str, str]:
        return {"plugin": self.plugin, "distribution": self.distribution, "version": self.version}


@dataclass(frozen=True)
class Found:
    """A spec together with its origin."""

    spec: Any
    origin: Origin


@dataclass(frozen=True)
class Failure:
    """A plugin that could not be used, and why; reported, never fatal for the others."""

    plugin: str
    reason: str


class Registry:
    """All specs of all loaded plugins, by kind and name."""

    def __init__(
        self, modules: Iterable[tuple[ModuleType, Origin]], failures: Iterable[Failure] = ()
    ):
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.failures: list[Failure] = list(failures)
        origins: dict[str, Origin] = {}
        for module, origin in modules:
            try:
                self.pm.register(module, name=origin.plugin)
            except Exception as exc:  # a malformed hookimpl must not stop the other plugins
                self.failures.append(Failure(origin.plugin, f"cannot register: {exc}"))
                continue
            origins[origin.plugin] = dataclasses.replace(origin, module=module.__name__)
        self._clashes: dict[tuple[str, str], str] = {}
        """A name two plugins define is unusable (its error names both); the rest still load."""
        self._by_kind: dict[str, dict[str, Found]] = {}
        for kind, (hook_name, spec_type) in KINDS.items():
            self._by_kind[kind] = self._collect(kind, hook_name, spec_type, origins)

    def _collect(
        self, kind: str, hook_name: str, spec_type: type[Spec], origins: dict[str, Origin]
    ) -> dict[str, Found]:
        found: dict[str, Found] = {}
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            origin = origins[impl.plugin_name]
            try:
                specs = list(impl.function())
            except Exception as exc:
                self.failures.append(Failure(origin.plugin, f"{hook_name}() raised {exc!r}"))
                continue
            bad = [s for s in specs if not isinstance(s, spec_type)]
            if bad:
                self.failures.append(
                    Failure(
                        origin.plugin,
                        f"{hook_name}() must return {spec_type.__name__} objects, got {bad[0]!r}",
                    )
                )
                continue
            for spec in specs:
                if not is_name(spec.name):
                    self.failures.append(
                        Failure(
                            origin.plugin,
                            f"{hook_name}() returned the {kind} name {spec.name!r}, which is "
                            f"not a name ({NAME_RULE}); that {kind} is not loaded",
                        )
                    )
                    continue
                if (kind, spec.name) in self._clashes:
                    continue
                if spec.name in found:
                    other = found.pop(spec.name).origin.plugin
                    message = (
                        f"{kind} name {spec.name!r} is defined by two plugins, {other!r} and "
                        f"{origin.plugin!r}; uninstall one, or restrict plugins with {ENV_FILTER}"
                    )
                    self._clashes[kind, spec.name] = message
                    self.failures.append(Failure(origin.plugin, message))
                    continue
                found[spec.name] = Found(spec, origin)
        return found

    def all(self, kind: str) -> list[Found]:
        """Every spec of one kind, sorted by name."""
        return sorted(self._by_kind[kind].values(), key=lambda f: f.spec.name)

    def find(self, kind: str, name: str) -> Found:
        """The spec called ``name``; an unknown name is an error listing the known ones."""
        table = self._by_kind[kind]
        if (kind, name) in self._clashes:
            raise AtrBenchError(self._clashes[kind, name])
        if name not in table:
            known = ", ".join(sorted(table)) or "none"
            label = kind.replace("_", " ")
            hint = f" (see `atr-bench list`; {len(self.failures)} plugin(s) failed to load)"
            raise AtrBenchError(
                f"unknown {label} {name!r}; known: {known}" + (hint if self.failures else "")
            )
        return table[name]

    def get(self, kind: str, name: str) -> Any:
        return self.find(kind, name).spec


def _distribution(ep: EntryPoint) -> str:
    return re.sub(r"[-_.]+", "-", ep.dist.name).lower() if ep.dist else "?"


def _origin(ep: EntryPoint) -> Origin:
    return Origin(ep.name, ep.dist.name if ep.dist else "?", ep.dist.version if ep.dist else "?")


def _builtin_modules() -> list[tuple[ModuleType, Origin]]:
    points = [ep for ep in entry_points(group=PROJECT) if _distribution(ep) == OWN_DISTRIBUTION]
    if not points:
        raise AtrBenchError(
            f"atr-bench's built-in plugins are not registered (its package metadata has no "
            f"{PROJECT!r} entry points); install it with `pip install -e .` in its source tree, "
            "or `pip install atr-bench`"
        )
    return [(ep.load(), _origin(ep)) for ep in sorted(points, key=lambda ep: ep.name)]


def _installed_modules() -> tuple[list[tuple[ModuleType, Origin]], list[Failure]]:
    wanted = os.environ.get(ENV_FILTER)
    allowed = {n.strip() for n in wanted.split(",") if n.strip()} if wanted is not None else None
    modules, failures = [], []
    points = [ep for ep in entry_points(group=PROJECT) if _distribution(ep) != OWN_DISTRIBUTION]
    for name in sorted((allowed or set()) - {ep.name for ep in points}):
        failures.append(Failure(name, f"named in {ENV_FILTER} but no installed plugin has it"))
    for ep in points:
        if allowed is not None and ep.name not in allowed:
            continue
        try:
            module = ep.load()
        except (Exception, SystemExit, KeyboardInterrupt) as exc:
            # report and go on: one broken plugin (even one that exits or raises an interrupt
            # at import) must not stop the others or the command
            failures.append(Failure(ep.name, f"failed to import {ep.value}: {exc!r}"))
            continue
        modules.append((module, _origin(ep)))
    return modules, failures


def load_registry() -> Registry:
    """A fresh registry of the built-ins plus every installed plugin allowed by the filter."""
    installed, failures = _installed_modules()
    return Registry(_builtin_modules() + installed, failures)


@cache
def registry() -> Registry:
    """The process-wide registry, loaded once."""
    return load_registry()
