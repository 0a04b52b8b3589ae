"""``atr-bench list``: every plugin found, with its options and where it came from, in lines of
at most 100 columns; poolings' options as the chosen protocol sets them."""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import Any

from atr_bench.errors import AtrBenchError
from atr_bench.plugins.registry import Found, registry

WIDTH = 100
INDENT = "    "
SECTIONS = (
    ("Extractors", "extractor", ("dim", "sample_rate", "frames_per_second")),
    ("Poolings", "pooling", ()),
    ("Text encoders", "text_encoder", ("dim",)),
    ("Datasets", "dataset", ()),
    ("Losses", "loss", ("settings",)),
    ("Batchings", "batching", ()),
    ("Protocols", "protocol", ("version", "batch_items", "loss")),
)
"""Each section: its title, the registry kind, and the spec fields shown besides options."""


def add_list_parser(sub: argparse._SubParsersAction) -> None:
    from atr_bench.run.config import DEFAULT_PROTOCOL

    p = sub.add_parser("list", help="every extractor, pooling, text encoder, dataset and protocol")
    p.add_argument(
        "--protocol",
        default=DEFAULT_PROTOCOL,
        help=f"show poolings' options as this protocol sets them (default: {DEFAULT_PROTOCOL})",
    )
    p.set_defaults(func=cmd_list)


def _cell(value: object) -> str:
    """A value: floats to 4 significant digits (10.0 -> 10, 1.0416666 -> 1.042), a tuple
    comma-separated."""
    if isinstance(value, tuple):
        return ", ".join(map(str, value)) or "none"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _wrapped(text: str) -> str:
    return textwrap.fill(text, WIDTH, initial_indent=INDENT, subsequent_indent=INDENT + "  ")


def _options(found: Found, protocol: Any) -> dict[str, Any]:
    """A spec's option defaults; a pooling's as ``protocol`` sets them on the audio side (for
    the default extractor's width)."""
    spec = found.spec
    if found.spec.kind != "pooling" or protocol is None:
        return {o.name: o.default for o in spec.options}
    base = protocol.pooling_options(spec.name, "audio", registry().get("extractor", "lms").dim)
    return dict(spec.resolve_options({}, base=base))


def _entry(found: Found, extra: tuple[str, ...], protocol: Any) -> list[str]:
    spec, origin = found.spec, found.origin
    lines = [f"{spec.name}  {origin.distribution} {origin.version} ({origin.plugin})"]
    lines.append(_wrapped(spec.description))
    if extra:
        facts = ", ".join(f"{f.replace('_', ' ')} {_cell(getattr(spec, f))}" for f in extra)
        lines.append(_wrapped(facts))
    options = _options(found, protocol)
    if options:
        lines.append(_wrapped("options: " + ", ".join(f"{k}={v}" for k, v in options.items())))
    return lines


def cmd_list(args: argparse.Namespace) -> int:
    reg = registry()
    protocol_name = getattr(args, "protocol", None)
    protocol = None
    if protocol_name:
        try:
            protocol = reg.get("protocol", protocol_name)
        except AtrBenchError:
            raise AtrBenchError(f"--protocol {protocol_name}: no such protocol") from None
    for title, kind, extra in SECTIONS:
        note = f" (options as protocol {protocol_name} sets them)" if kind == "pooling" else ""
        print(f"{title}{note}")
        for found in reg.all(kind):
            print("\n".join(_entry(found, extra, protocol)))
        print()
    for failure in reg.failures:
        print(f"plugin {failure.plugin!r} not loaded: {failure.reason}", file=sys.stderr)
    return 0
