"""What a record was tested on and at what size it ran: boards never rank, bold or plot rows of
two test sets as one comparison, and keep smoke-sized runs off the main board."""

from __future__ import annotations

import re
from typing import Any

from atr_bench.errors import AtrBenchError
from atr_bench.plugins.registry import registry
from atr_bench.record.run_record import RunRecord

SIZE_OPTION = re.compile(r"dataset\.(train|val|test|order_pairs|\w*clips|\w*fraction)")
"""Settings that change a dataset's size (synthcaps' ``train``, ``val``, ``test``, ...)."""


def _test_split(record: RunRecord) -> dict[str, Any]:
    test = (record.split_digests or {}).get("test")
    return test if isinstance(test, dict) else {}


def test_digest(record: RunRecord) -> str:
    """The SHA-256 of the record's test split (``data.identity``); empty for older records."""
    return str(_test_split(record).get("sha256", ""))


def test_label(record: RunRecord) -> str:
    """The test split in words: its canonical coverage where known, else its size."""
    covered = (record.coverage or {}).get("test")
    if isinstance(covered, dict) and covered.get("text"):
        return str(covered["text"])
    test = _test_split(record)
    return f"{test['clips']:,} clips, {test['captions']:,} captions" if test else ""


def _protocol_epochs(record: RunRecord) -> int | None:
    """The epochs of the record's protocol, when it is installed at the record's version."""
    name, _, version = record.protocol_label.partition("@")
    try:
        spec = registry().get("protocol", name)
    except AtrBenchError:
        return None
    return spec.epochs if str(spec.version) == version else None


def smoke_reasons(record: RunRecord) -> list[str]:
    """Why the record is a smoke-sized run (dataset sizes set, fewer epochs than its
    protocol); empty for a full run. Records older than split digests are not judged: they
    form their own group, whose boards render as they did."""
    if not test_digest(record):
        return []
    settings = record.settings or {}
    reasons = [f"{k}={v}" for k, v in sorted(settings.items()) if SIZE_OPTION.fullmatch(k)]
    epochs, protocol = settings.get("epochs"), _protocol_epochs(record)
    if isinstance(epochs, int) and protocol is not None and epochs < protocol:
        reasons.append(f"epochs={epochs} < {protocol}")
    return reasons
