"""A spec's ``build`` that imports its implementation only when it is called.

A plugin module is imported whenever the registry loads (``atr-bench list``, ``--help``, every
run); with ``build=Lazy("pkg.module", "Name")`` it declares its specs without importing the
implementation's heavy dependencies (torch, librosa, gensim), which load on the first build.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any


@dataclass(frozen=True)
class Lazy:
    """Calls ``module.name(*args, **options)``, importing ``module`` on the call."""

    module: str
    name: str

    def __call__(self, *args: Any, **options: Any) -> Any:
        return getattr(import_module(self.module), self.name)(*args, **options)
