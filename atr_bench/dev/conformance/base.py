"""What every check shares: the error it raises, the spec metadata check, the protocol check."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from atr_bench.errors import AtrBenchError
from atr_bench.files.names import MAX_NAME, NAME_RULE, is_name
from atr_bench.plugins.contract import missing_members
from atr_bench.plugins.specs import PoolingSpec, Spec


class ConformanceError(AtrBenchError, AssertionError):
    """A plugin breaks the hook contract; pytest shows it as a failed assertion."""


def fail(spec: Spec[Any], rule: str) -> NoReturn:
    """Raise ``ConformanceError``: which plugin, which rule, what to fix."""
    raise ConformanceError(f"{spec.title}: {rule}")


def conforms(spec: Spec[Any], built: object, protocol: type, what: str = "build") -> None:
    """``built`` (what ``what`` returned) has every member of ``protocol`` (of
    ``atr_bench.plugins.contract``); the failure names the ones it lacks."""
    missing = missing_members(built, protocol)
    if missing:
        fail(
            spec,
            f"{what} returned {type(built).__name__}, which lacks {', '.join(missing)}: see "
            f"the {protocol.__name__} protocol in atr_bench/plugins/contract.py",
        )


def check_spec(spec: Spec[Any], options: Mapping[str, Any] | None = None, **_: Any) -> None:
    """Name usable on the command line, one-line description, options that resolve. Other
    checks' keyword arguments are ignored, so it fits in the same parametrize list."""
    if not is_name(spec.name):
        fail(spec, f"name must be up to {MAX_NAME} {NAME_RULE}, as typed in --flags")
    if not spec.description.strip() or "\n" in spec.description:
        fail(spec, "description must be one non-empty line (`atr-bench list` prints it)")
    names = [o.name for o in spec.options]
    if len(set(names)) != len(names):
        fail(spec, f"option names repeat: {names}; give each option its own name")
    spec.resolve_options(options)
    if isinstance(spec, PoolingSpec):
        spec.resolve_options(options, base=spec.text_defaults)
