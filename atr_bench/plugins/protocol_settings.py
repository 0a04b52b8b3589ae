"""The protocol settings a run may set (``--lr``, ``--epochs``, ...) as typed options with their
bounds: the one description that the command line checks a user's values against and the plan
checks a protocol's own values against, so neither a flag nor a protocol plugin reaches
training with a value that cannot mean anything (a negative learning rate, a batch of one, a
size that only an allocation failure would stop)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from atr_bench.errors import AtrBenchError
from atr_bench.plugins.specs import Option, Rule

_POSITIVE = Rule(lambda v: v > 0, "> 0")
SETTINGS = {
    option.name: option
    for option in (
        Option("embed_dim", int, None, "shared space size", minimum=1, maximum=65_536),
        Option("margin", float, None, "max-margin loss margin", minimum=0.0, maximum=100.0),
        Option("temperature", float, None, "InfoNCE temperature", maximum=100.0, rule=_POSITIVE),
        Option("lr", float, None, "learning rate", maximum=10.0, rule=_POSITIVE),
        Option("weight_decay", float, None, "weight decay", minimum=0.0, maximum=1.0),
        Option(
            "gamma",
            float,
            None,
            "learning-rate decay per epoch",
            rule=Rule(lambda v: 0 < v <= 1, "in (0, 1]"),
        ),
        Option("batch_size", int, None, "training batch size", minimum=2, maximum=1 << 20),
        Option("epochs", int, None, "training epochs", minimum=1, maximum=100_000),
        Option("text_tokens", int, None, "tokens kept per caption", minimum=1, maximum=100_000),
        Option("audio_frames", int, None, "frames kept per clip", minimum=1, maximum=1 << 20),
        Option(
            "selection_ties", str, None, "which epoch a tie selects", choices=("later", "earlier")
        ),
    )
}
"""Every bounded protocol setting, by its ``RunConfig`` / ``ProtocolSpec`` field name."""


def setting_problem(name: str, value: Any) -> str | None:
    """What ``value`` of setting ``name`` must be, when it breaks the setting's rules."""
    option = SETTINGS[name]
    try:
        typed = option.convert(value)
    except ValueError as exc:
        return str(exc)
    return None if (rule := option.broken_rule(typed)) is None else f"must be {rule}"


def protocol_problem(spec: Any) -> str | None:
    """The first setting a ``ProtocolSpec`` gives a value its rules refuse, worded for the
    registry (which then does not load that protocol), or None."""
    for name in SETTINGS:
        if name == "epochs" and getattr(spec, "zero_shot", False):
            continue  # a zero-shot protocol trains nothing: it has no epochs
        value = getattr(spec, name, None)
        if isinstance(value, Mapping):  # audio_frames: a table, dataset -> extractor -> frames
            cells = [(f"{name}[{d!r}][{e!r}]", v) for d, t in value.items() for e, v in t.items()]
        else:
            cells = [(name, value)]
        for where, cell in cells:
            problem = None if cell is None else setting_problem(name, cell)
            if problem is not None:
                return f"protocol {spec.name!r} sets {where}={cell!r}, which {problem}"
    return None


def check_settings(values: Mapping[str, Any], blame: Callable[[str, Any, str], str]) -> None:
    """Every given (not None) value of a bounded setting in ``values`` keeps its rules; the
    first that does not is an error worded by ``blame(name, value, problem)``."""
    for name, value in values.items():
        if name in SETTINGS and value is not None:
            problem = setting_problem(name, value)
            if problem is not None:
                raise AtrBenchError(blame(name, value, problem))
