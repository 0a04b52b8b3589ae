"""The run hash: 12 hex digits that make two runs comparable (one leaderboard row, one run id
per seed), and its one compatibility policy.

What it covers: every field of the resolved ``RunConfig``, as JSON with sorted keys, with
  - plugin options that do not affect results (``Option.affects_results=False``) left out;
  - ``weights`` as the checkpoint's SHA-256 digest (``sha256:<hex>``) instead of its path, so
    the same checkpoint under another path gives the same hash (``None`` and ``random`` stay
    as they are); the hash of a run with ``--weights PATH`` recorded before this rule held the
    path, so such a run gets a new id (runs without weights, or with ``random``, keep theirs);
  - anything added after runs were recorded left out at its legacy value.

The compatibility policy: a config field or a plugin option added after runs were recorded
declares its legacy value, the value that gives the behaviour from before it existed (a field
in ``LEGACY_FIELDS``, an option in ``Option.legacy``). At that value it is left out of the
hash, so the runs recorded before it keep their ids; at any other value it is in. A legacy
value never changes (runs at an old and a new one would share a hash); defaults may.

Code identity (``plugins.code_identity``): each component's distribution, version and source
digest is in the hash, under ``code``, so edited or upgraded plugin code gives new run ids
(never "already done", never averaged with the old code's seeds into one row). It came after
runs were recorded, and their code cannot be known now: a hash made without it (``code``
None) is the hash from before, so those records keep their ids; a new plan always has it, so
the first run after this rule is a new run even when the code did not change.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from atr_bench.plugins.code_identity import CodeIdentity
from atr_bench.plugins.specs import ALWAYS_HASHED, Spec
from atr_bench.run.config import RunConfig

LEGACY_FIELDS: dict[str, Any] = {
    "gate_batch_norm": False,
    "protocol": "pairs",
    "protocol_version": 1,
    "batch_items": "pairs",
    "audio_l2renorm": False,
}
"""``RunConfig`` fields added after runs were recorded, with their legacy values."""


def run_hash(
    config: RunConfig,
    specs: Mapping[str, Spec],
    weights: str | None,
    code: Mapping[str, CodeIdentity] | None = None,
) -> str:
    """The hash of ``config``, whose ``<component>_options`` are options of ``specs[component]``
    and whose checkpoint is identified by ``weights``
    (``data.extraction.weights.weights_identity``), with each component's ``code`` identity
    (None: the hash from before it was covered)."""
    covered: dict[str, Any] = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if field.name.endswith("_options"):
            value = hashed_options(specs[field.name.removesuffix("_options")], value)
        elif field.name == "weights":
            value = weights
        if field.name in LEGACY_FIELDS and value == LEGACY_FIELDS[field.name]:
            continue
        covered[field.name] = value
    return digest_of(covered, code)


def digest_of(covered: Mapping[str, Any], code: Mapping[str, CodeIdentity] | None = None) -> str:
    """12 hex digits of ``covered`` as JSON with sorted keys, with each component's ``code``
    identity under ``code`` (None: left out): the one digest every kind of run id ends in."""
    covered = dict(covered)
    if code is not None:
        covered["code"] = {name: identity.as_dict() for name, identity in code.items()}
    blob = json.dumps(covered, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def hashed_options(spec: Spec, values: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    """The options that affect results, less those at their legacy value."""
    known = {o.name: o for o in spec.options}

    def hashed(name: str, value: Any) -> bool:
        option = known.get(name)
        if option is None:
            return True
        at_legacy = option.legacy is not ALWAYS_HASHED and value == option.legacy
        return option.affects_results and not at_legacy

    return {name: value for name, value in values if hashed(name, value)}
