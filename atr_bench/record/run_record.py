"""The run record: one typed, frozen value per (configuration, seed), stored as JSON.

``RunRecord.to_json`` gives the JSON object written under ``runs/``; ``RunRecord.from_json``
checks and reads one back, of the current schema or an older one (``READABLE_SCHEMAS``).
Fields missing from older or hand-made records are None (or empty). ``SCHEMA_VERSION`` goes up
whenever the fields change, and the reader keeps accepting every version listed.

Schema history: 1, the first typed record (the fields below without ``parameters`` and
``ranks``); 2 adds the model's parameter count and the name of the per-query ranks file
(``record/ranks.py``) beside the record; 3 adds which clips each split held
(``split_digests``), their canonical ``coverage``, ``allowed_overlap`` and ``unsound``, and a
``digest`` of each component's code in ``plugins``; also ``text_features`` (what made the caption
features) and ``zero_shot``, true for a pretrained dual encoder tested as it is; 4 adds the
metrics of other papers' and tools' definitions to ``test`` (``metric_names.DEFINITION_METRICS``:
``R1_hits``, ``R5_released``, ``nDCG10``, ...), ``metric_definitions`` saying in words what each
of its test metrics is, and tie counts to the ranks file. Older records lack those metrics,
and boards show them as missing.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from atr_bench.record.metric_names import (
    DIRECTIONS,
    PERCENT_METRICS,
    RANK_METRICS,
    RECALL_FAMILIES,
)

SCHEMA_VERSION = 4
READABLE_SCHEMAS = frozenset({1, 2, 3, 4})
LEGACY_PROTOCOL = "pairs@1"
"""The protocol of records written before protocols were named (their settings are pairs')."""

Metrics = dict[str, dict[str, float]]
"""Test metrics: direction (``t2a``, ``a2t``) -> metric key -> value."""


@dataclass(frozen=True)
class ProtocolRef:
    """The protocol a run followed, by name and version."""

    name: str
    version: int

    @property
    def label(self) -> str:
        """``name@version``, as boards name a protocol."""
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class OrderResult:
    """A run's order-contrast result (the test of a dataset's ``contract.OrderContrast`` set):
    how many swapped pairs, and the percent of captions right."""

    pairs: int
    accuracy: float


@dataclass(frozen=True)
class Seconds:
    """Wall-clock seconds of the run's stages (``load`` is shared by a configuration's seeds)."""

    load: float
    train: float
    test: float


@dataclass(frozen=True, kw_only=True)
class RunRecord:
    """What one seed of one configuration did and measured. Field order is the JSON's."""

    run_id: str | None = None
    created: str | None = None
    dataset: str
    extractor: str
    pooling: str
    text_pooling: str | None = None
    text_encoder: str | None = None
    seed: int
    protocol: ProtocolRef | None = None
    protocol_hash: str | None = None
    settings: dict[str, Any] | None = None
    """What the run set away from its protocol's defaults (``pooling.readout`` -> value)."""
    config: dict[str, Any] | None = None
    plugins: dict[str, Any] | None = None
    """Per component: the plugin, its distribution and version, and (newer records) the
    ``digest`` of its code (``plugins.code_identity``)."""
    untrained: bool = False
    features: dict[str, Any] | None = None
    versions: dict[str, Any] | None = None
    device: str | None = None
    """The device in words, e.g. ``cpu (x86_64, 1 threads)``."""
    execution: dict[str, Any] | None = None
    """What besides the protocol changes the numbers (``results.execution``)."""
    sizes: dict[str, Any] | None = None
    seconds: Seconds | None = None
    best_epoch: int | None = None
    val_curve: tuple[dict[str, Any], ...] = ()
    test: Metrics
    order_contrast: OrderResult | None = None
    parameters: int | None = None
    """Trainable and frozen parameters of the model (both encoders' heads and poolings)."""
    ranks: str | None = None
    """File name, beside the record, of its test split's per-query ranks (schema 2 on)."""
    split_digests: dict[str, Any] | None = None
    """Per split, which clips and captions it held: ``sha256``, ``clips``, ``captions``
    (``data.identity``); two records with one test digest were tested on the same set."""
    coverage: dict[str, Any] | None = None
    """Per split of AudioCaps or Clotho, how much of a canonical split it held
    (``data.canonical``), with ``text`` as logged."""
    allowed_overlap: int | None = None
    """Test clips also in the train split, when the run was told to allow them."""
    unsound: dict[str, list[str]] | None = None
    """The soundness checks (``run.soundness``) each pooling failed, by component, when the
    run was let go on with ``--allow-unsound``; None when they passed."""
    text_features: dict[str, Any] | None = None
    """What made the caption features: the text encoder and, where it says, its model and
    digest (schema 3 on)."""
    zero_shot: bool | None = None
    """True when nothing was trained: a pretrained dual encoder's own towers were tested
    (``features`` names the model and its digest); absent from other records (schema 3 on)."""
    metric_definitions: dict[str, str] | None = None
    """Each test metric's key and its definition in words (``metric_names``), so that a record
    read without this harness says which definition each number is (schema 4 on)."""

    @property
    def protocol_label(self) -> str:
        """``name@version`` of the record's protocol (``pairs@1`` for unnamed, older ones)."""
        return self.protocol.label if self.protocol is not None else LEGACY_PROTOCOL

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this record, under the current schema version."""
        out: dict[str, Any] = {"schema": SCHEMA_VERSION}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is None and field.name not in _ALWAYS_WRITTEN:
                continue  # absent from an older record: stays absent
            if dataclasses.is_dataclass(value):
                value = dataclasses.asdict(value)  # type: ignore[arg-type]
            elif isinstance(value, tuple):
                value = list(value)
            out[field.name] = value
        return out

    @classmethod
    def from_json(cls, data: Any) -> RunRecord:
        """The record in a JSON object; ValueError saying what is wrong when it is not one."""
        problem = schema_problem(data)
        if problem is not None:
            raise ValueError(problem)
        known = {f.name for f in dataclasses.fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        if isinstance(values.get("protocol"), dict):
            values["protocol"] = ProtocolRef(**values["protocol"])
        if isinstance(values.get("order_contrast"), dict):
            values["order_contrast"] = OrderResult(**values["order_contrast"])
        if isinstance(values.get("seconds"), dict):
            values["seconds"] = Seconds(**values["seconds"])
        values["val_curve"] = tuple(values.get("val_curve") or ())
        values["test"] = {d: dict(data["test"][d]) for d in DIRECTIONS}
        return cls(**values)


_ALWAYS_WRITTEN = frozenset({"text_pooling", "text_encoder", "order_contrast"})
"""Fields a record states even when None (no text pooling of its own, no order test)."""

OPTIONAL_TYPES: dict[str, type | tuple[type, ...]] = {
    "run_id": str,
    "created": str,
    "text_pooling": (str, type(None)),
    "text_encoder": (str, type(None)),
    "protocol": dict,
    "protocol_hash": str,
    "settings": dict,
    "config": dict,
    "plugins": dict,
    "untrained": bool,
    "features": dict,
    "versions": dict,
    "device": str,
    "execution": dict,
    "sizes": dict,
    "seconds": dict,
    "best_epoch": int,
    "val_curve": list,
    "order_contrast": (dict, type(None)),
    "parameters": int,
    "ranks": str,
    "split_digests": dict,
    "coverage": dict,
    "allowed_overlap": int,
    "unsound": dict,
    "text_features": dict,
    "zero_shot": bool,
    "metric_definitions": dict,
}
"""Record fields that may be missing (older records) but when present have these types."""


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parts_problem(record: dict[str, Any]) -> str | None:
    """Why a typed part (protocol, order contrast, seconds, curve, failed checks) is
    malformed, or None."""
    protocol = record.get("protocol")
    if protocol is not None and not (
        set(protocol) == {"name", "version"}
        and isinstance(protocol["name"], str)
        and _whole(protocol["version"])
    ):
        return "run record's protocol is not a name and a version"
    order = record.get("order_contrast")
    if order is not None and not (
        set(order) == {"pairs", "accuracy"}
        and _whole(order["pairs"])
        and order["pairs"] >= 1
        and _number(order["accuracy"])
        and 0 <= order["accuracy"] <= 100
    ):
        return "run record's order_contrast is not a pair count >= 1 and an accuracy in 0..100"
    seconds = record.get("seconds")
    fields = {f.name for f in dataclasses.fields(Seconds)}
    if seconds is not None and not (
        set(seconds) == fields and all(_number(v) and v >= 0 for v in seconds.values())
    ):
        return f"run record's seconds are not numbers >= 0 of {', '.join(sorted(fields))}"
    for key, low in (("parameters", 0), ("best_epoch", 1)):
        if key in record and record[key] < low:
            return f"run record's {key} = {record[key]} is below {low}"
    if not all(isinstance(epoch, dict) for epoch in record.get("val_curve", [])):
        return "run record's val_curve is not a list of epochs"
    unsound = record.get("unsound", {})
    if not all(
        isinstance(v, list) and all(isinstance(c, str) for c in v) for v in unsound.values()
    ):
        return "run record's unsound is not lists of check names"
    named = record.get("metric_definitions", {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in named.items()):
        return "run record's metric_definitions is not metric names and their definitions"
    return None


def schema_problem(record: Any) -> str | None:
    """Why ``record`` is not a valid run record (types and ranges of what the harness reads
    back), or None."""
    if not isinstance(record, dict) or record.get("schema") not in READABLE_SCHEMAS:
        *earlier, last = (str(v) for v in sorted(READABLE_SCHEMAS))
        versions = f"{', '.join(earlier)} or {last}" if earlier else last
        return f"not a schema-{versions} run record"
    for key in ("dataset", "extractor", "pooling"):
        if not isinstance(record.get(key), str):
            return f"run record's {key} is not a string"
    seed = record.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        return "run record's seed is not a whole number >= 0"
    for key, kind in OPTIONAL_TYPES.items():
        if key in record and not isinstance(record[key], kind):
            return f"run record's {key} has the wrong type"
    problem = _parts_problem(record)
    if problem is not None:
        return problem
    test = record.get("test")
    if not isinstance(test, dict) or not all(isinstance(test.get(d), dict) for d in DIRECTIONS):
        return "run record has no test metrics"
    for direction in DIRECTIONS:
        most = _largest_rank(record, direction)
        for metric, value in test[direction].items():
            if not _number(value):
                return f"run record's test {direction} {metric} is not a finite number"
            low, high = (1.0, most) if metric in RANK_METRICS else (0.0, 100.0)
            if metric in PERCENT_METRICS + RANK_METRICS and not low <= value <= high:
                return f"run record's test {direction} {metric} = {value} is out of range"
        for keys in RECALL_FAMILIES.values():
            recalls = [test[direction][k] for k in keys if k in test[direction]]
            if recalls != sorted(recalls):
                return f"run record's test {direction} recalls fall as k grows: {recalls}"
    return None


def _largest_rank(record: dict[str, Any], direction: str) -> float:
    """The largest rank the test split allows in ``direction`` (its clips for t2a, its
    captions for a2t), where the record gives the split's sizes; else no bound."""
    test = (record.get("sizes") or {}).get("test")
    size: Any = (
        test.get("clips" if direction == "t2a" else "captions") if isinstance(test, dict) else None
    )
    return float(size) if _whole(size) and size >= 1 else math.inf
