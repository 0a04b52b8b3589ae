"""The ``model`` option every Hugging Face component takes."""

from __future__ import annotations

from atr_bench.plugins.specs import Option


def model_option(default: str) -> Option:
    """``model=ID_OR_FOLDER``: a hub id, or a folder saved with ``save_pretrained``. Out of the
    run hash: the configured component's name holds the model's digest instead of its path."""
    return Option(
        "model",
        str,
        default,
        "hub id, or a folder saved with save_pretrained (offline: a folder)",
        affects_results=False,
    )
