"""Soundness before training: the conformance kit's millisecond pooling checks, run on each
pooling of a run with its resolved options before any data loads, so that a pooling which
ignores the padding mask or leaks NaN through padding never trains silently.

A failure stops the run with one line; ``--allow-unsound`` lets it go on (research on purpose),
with a warning, and the record lists the failed checks so that boards mark the row. The checks
run on the CPU under forked random states, so they leave a run's numbers unchanged, and once
per process for each pooling, options and input size.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from atr_bench.dev.conformance import (
    IN_DIM,
    ConformanceError,
    check_pooling_determinism,
    check_pooling_finite,
    check_pooling_out_dim,
    check_pooling_padding_content,
)
from atr_bench.errors import AtrBenchError
from atr_bench.plugins.registry import Found
from atr_bench.run.config import Options
from atr_bench.run.plan import Plan

ALLOW_UNSOUND = "--allow-unsound"
"""The flag that lets a run with an unsound pooling go on."""

CHECKS: dict[str, Callable[..., None]] = {
    "shape": check_pooling_out_dim,
    "padding": check_pooling_padding_content,
    "finite": check_pooling_finite,
    "determinism": check_pooling_determinism,
}
"""The checks by the name records and boards give them, in the order they run (an error
states the first failure's reason: padding before finite, as ignoring the mask lets NaN
through too). Padding is checked by content (what padded frames hold), not by length: the
``lou2022`` protocol counts padded frames as zeros on purpose, as the paper's code does."""

SIDES = {"pooling": "audio pooling", "text_pooling": "text pooling"}
"""The run's poolings, by component, and how messages name them."""


@dataclass(frozen=True)
class Failed:
    """A check a pooling of a run failed, and the kit's one-line reason."""

    component: str
    check: str
    reason: str


_checked: dict[tuple[object, ...], tuple[tuple[str, str], ...]] = {}
"""Failed (check, reason) per (pooling, origin, options, input size): each runs once."""


def unsound(the_plan: Plan) -> tuple[Failed, ...]:
    """The checks the plan's audio and text poolings fail, with the options the run builds
    them with and its feature sizes."""
    sizes = {  # a spec that does not state its size gets the kit's
        "pooling": the_plan.components["extractor"].spec.dim or IN_DIM,
        "text_pooling": the_plan.components["text_encoder"].spec.dim or IN_DIM,
    }
    failed = []
    for component, in_dim in sizes.items():
        options = getattr(the_plan.config, f"{component}_options")
        for check, reason in _failures(the_plan.components[component], options, in_dim):
            failed.append(Failed(component, check, reason))
    return tuple(failed)


def _failures(found: Found, options: Options, in_dim: int) -> tuple[tuple[str, str], ...]:
    key = (found.spec.name, found.origin, options, in_dim)
    if key not in _checked:
        _checked[key] = _run_checks(found, dict(options), in_dim)
    return _checked[key]


def _run_checks(
    found: Found, options: Mapping[str, object], in_dim: int
) -> tuple[tuple[str, str], ...]:
    """Each failed check and its reason; the random states are restored afterwards."""
    spec = found.spec
    failed = []
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        with torch.random.fork_rng(devices=[]):
            for name, check in CHECKS.items():
                try:
                    check(spec, options, in_dim=in_dim)
                except ConformanceError as exc:
                    failed.append((name, str(exc).removeprefix(f"{spec.title}: ")))
                except Exception as exc:  # a pooling that cannot run the tiny input fails too
                    failed.append((name, f"raised {type(exc).__name__}: {exc}".splitlines()[0]))
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
    return tuple(failed)


def check_soundness(the_plan: Plan, allow: bool) -> dict[str, list[str]]:
    """The failed checks by component (empty when sound); unless ``allow``, a failure is an
    error naming the pooling, its plugin, the checks and the flag that overrides them."""
    failed = unsound(the_plan)
    if failed and not allow:
        first = failed[0]
        found = the_plan.components[first.component]
        origin = found.origin
        checks = ", ".join(dict.fromkeys(f.check for f in failed if f.component == first.component))
        raise AtrBenchError(
            f"{SIDES[first.component]} {found.spec.name!r} (plugin {origin.plugin!r}, "
            f"{origin.distribution} {origin.version}) fails the soundness check(s) {checks}: "
            f"{first.reason}; fix the plugin, or pass {ALLOW_UNSOUND} to train it anyway"
        )
    out: dict[str, list[str]] = {}
    for f in failed:
        out.setdefault(f.component, []).append(f.check)
    return out
