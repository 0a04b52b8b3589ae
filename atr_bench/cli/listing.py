"""``atr-bench list``: every plugin found, with its options and where it came from."""

from __future__ import annotations

import argparse
import sys

from tabulate import tabulate

from atr_bench.plugins.registry import registry


def _cell(value: object) -> str:
    """A table cell: floats to 4 significant digits (10.0 -> 10, 1.0416666 -> 1.042)."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def cmd_list(args: argparse.Namespace) -> int:
    reg = registry()
    sections = [
        ("Extractors", "extractor", ("dim", "sample_rate", "frames_per_second")),
        ("Poolings", "pooling", ()),
        ("Text encoders", "text_encoder", ("dim",)),
        ("Datasets", "dataset", ()),
        ("Protocols", "protocol", ("version", "batch_items")),
    ]
    for title, kind, extra in sections:
        rows = []
        for found in reg.all(kind):
            spec, origin = found.spec, found.origin
            opts = ", ".join(f"{o.name}={o.default}" for o in spec.options)
            plugin = f"{origin.distribution} {origin.version} ({origin.plugin})"
            rows.append(
                [
                    spec.name,
                    *(_cell(getattr(spec, f)) for f in extra),
                    spec.description,
                    opts,
                    plugin,
                ]
            )
        headers = ["name", *(f.replace("_", " ") for f in extra), "description", "options"]
        print(f"{title}\n" + tabulate(rows, headers=[*headers, "plugin"], disable_numparse=True))
        print()
    for failure in reg.failures:
        print(f"plugin {failure.plugin!r} not loaded: {failure.reason}", file=sys.stderr)
    return 0
