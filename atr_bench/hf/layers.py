"""Which hidden states a model's features are: ``last``, ``mean`` (of every layer's output)
or an index into the hidden states (0: the embeddings, N: the last of N layers; negative counts
from the end), as the ``layer`` option of the hf extractor and text encoder says."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from atr_bench.errors import AtrBenchError
from atr_bench.plugins.specs import Option, Rule

if TYPE_CHECKING:
    from torch import Tensor

MEAN = "mean"
LAST = "last"


def _valid(value: str) -> bool:
    return value in (MEAN, LAST) or re.fullmatch(r"-?[0-9]+", value) is not None


LAYER = Option(
    "layer",
    str,
    LAST,
    "hidden states taken: last, mean (of all layers) or an index (0: embeddings)",
    rule=Rule(_valid, "last, mean or a whole number"),
)


def check_layer(layer: str, layers: int, owner: str) -> None:
    """Refuse an index outside the ``layers + 1`` hidden states (embeddings included)."""
    if layer in (MEAN, LAST):
        return
    if not -(layers + 1) <= int(layer) <= layers:
        raise AtrBenchError(
            f"{owner}: layer={layer} is out of range: the model has {layers} layers, so "
            f"layer is last, mean or a whole number in [{-(layers + 1)}, {layers}]"
        )


def select(states: Sequence[Tensor], layer: str) -> Tensor:
    """The hidden states ``layer`` names, from ``output_hidden_states`` (embeddings first)."""
    if layer == MEAN:
        import torch

        return torch.stack(list(states[1:])).mean(0)
    return states[-1] if layer == LAST else states[int(layer)]
