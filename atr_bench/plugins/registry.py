"""The plugin manager: built-ins and installed entry points, every spec found by name."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import import_module
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any

import pluggy

from atr_bench import PROJECT
from atr_bench.errors import AtrBenchError
from atr_bench.files.names import NAME_RULE, is_name
from atr_bench.plugins import hookspecs
from atr_bench.plugins.protocol_settings import protocol_problem
from atr_bench.plugins.specs import (
    BatchingSpec,
    DatasetSpec,
    ExtractorSpec,
    LossSpec,
    PoolingSpec,
    ProtocolSpec,
    Spec,
    TextEncoderSpec,
)

ENV_FILTER = "ATR_BENCH_PLUGINS"
"""Comma-separated entry-point names: when set, only these installed plugins load."""

OWN_DISTRIBUTION = "atr-bench"
"""The distribution the built-ins belong to."""
BUILTINS = {
    "atr_bench.poolings": "atr_bench.components.poolings.plugin",
    "atr_bench.extractors": "atr_bench.components.extractors.plugin",
    "atr_bench.text_encoders": "atr_bench.components.text_encoders.plugin",
    "atr_bench.datasets": "atr_bench.components.datasets.plugin",
    "atr_bench.training": "atr_bench.components.training_parts",
    "atr_bench.protocols": "atr_bench.components.protocols",
}
"""The built-in plugins (name -> module), as pytest and llm list theirs: modules implementing
the same hooks a third party's plugin does, always loaded (the plugin filter applies to other
distributions), whether atr-bench is installed or run from a source tree."""

KINDS: dict[str, tuple[str, type[Spec]]] = {
    "extractor": ("atr_bench_extractors", ExtractorSpec),
    "pooling": ("atr_bench_poolings", PoolingSpec),
    "text_encoder": ("atr_bench_text_encoders", TextEncoderSpec),
    "dataset": ("atr_bench_datasets", DatasetSpec),
    "loss": ("atr_bench_losses", LossSpec),
    "batching": ("atr_bench_batchings", BatchingSpec),
    "protocol": ("atr_bench_protocols", ProtocolSpec),
}
"""Every kind of spec, by the name the registry knows it; collected in this order, so a
protocol is checked against the losses and batchings already loaded."""


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
        self._refused: dict[tuple[str, str], str] = {}
        """Specs refused at load (a bad name, a protocol setting out of its rules), by name:
        asking for one gives the reason, not "unknown"."""
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
                problem = _spec_problem(kind, hook_name, spec) or self._protocol_parts(spec)
                if problem is not None:
                    self._refused.setdefault((kind, spec.name), problem)
                    self.failures.append(Failure(origin.plugin, problem))
                    continue
                self._admit(found, kind, Found(spec, origin))
        return found

    def _protocol_parts(self, spec: Spec) -> str | None:
        """For a protocol, the loss or batching it names that no plugin provides, or None."""
        if not isinstance(spec, ProtocolSpec):
            return None
        for kind, name, field in (
            ("loss", spec.loss, "loss"),
            ("batching", spec.batch_items, "batch_items"),
        ):
            if name not in self._by_kind.get(kind, {}):
                known = ", ".join(sorted(self._by_kind.get(kind, {}))) or "none"
                return (
                    f"protocol {spec.name!r} sets {field}={name!r}, which is no registered "
                    f"{kind} (known: {known})"
                )
        return None

    def _admit(self, found: dict[str, Found], kind: str, new: Found) -> None:
        """Add ``new`` to ``found`` unless its name is taken: a built-in keeps its name and the
        newcomer is refused (reported); two plugins' specs of one name are both unusable."""
        name = new.spec.name
        if (kind, name) in self._clashes:
            return
        old = found.get(name)
        if old is None:
            found[name] = new
            return
        if _builtin(old) != _builtin(new):
            builtin, other = (old, new) if _builtin(old) else (new, old)
            found[name] = builtin
            self.failures.append(
                Failure(
                    other.origin.plugin,
                    f"{kind} name {name!r} is a built-in of {_dist(builtin)}; "
                    f"{_dist(other)}'s {kind} of that name is not loaded: rename it",
                )
            )
            return
        del found[name]
        message = (
            f"{kind} name {name!r} is defined by two plugins, {old.origin.plugin!r} and "
            f"{new.origin.plugin!r}; uninstall one, or restrict plugins with {ENV_FILTER}"
        )
        self._clashes[kind, name] = message
        self.failures.append(Failure(new.origin.plugin, message))

    def all(self, kind: str) -> list[Found]:
        """Every spec of one kind, sorted by name."""
        return sorted(self._by_kind[kind].values(), key=lambda f: f.spec.name)

    def find(self, kind: str, name: str) -> Found:
        """The spec called ``name``; an unknown name is an error listing the known ones."""
        table = self._by_kind[kind]
        if (kind, name) in self._clashes:
            raise AtrBenchError(self._clashes[kind, name])
        if name not in table and (kind, name) in self._refused:
            raise AtrBenchError(f"{self._refused[kind, name]}; fix the plugin")
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


def _spec_problem(kind: str, hook_name: str, spec: Spec) -> str | None:
    """Why a spec a hook returned cannot be loaded (its name, or for a protocol a setting out
    of its rules), or None."""
    if not is_name(spec.name):
        return (
            f"{hook_name}() returned the {kind} name {spec.name!r}, which is not a name "
            f"({NAME_RULE}); that {kind} is not loaded"
        )
    if kind == "protocol":
        return protocol_problem(spec)
    return None


def _builtin(found: Found) -> bool:
    return _normal(found.origin.distribution) == OWN_DISTRIBUTION


def _dist(found: Found) -> str:
    return f"{found.origin.distribution} {found.origin.version}"


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _distribution(ep: EntryPoint) -> str:
    return _normal(ep.dist.name) if ep.dist else "?"


def _origin(ep: EntryPoint) -> Origin:
    return Origin(ep.name, ep.dist.name if ep.dist else "?", ep.dist.version if ep.dist else "?")


def _builtin_modules() -> list[tuple[ModuleType, Origin]]:
    """The built-in plugin modules, imported from ``BUILTINS`` (installed or not), each under
    its plugin name as atr-bench's own distribution."""
    from atr_bench import __version__

    return [
        (import_module(module), Origin(name, OWN_DISTRIBUTION, __version__))
        for name, module in BUILTINS.items()
    ]


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
