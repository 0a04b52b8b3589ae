"""``x W^T + b`` on the CPU by oneDNN's inner product, which torch ships but calls only from
compiled graphs: at the paper's shapes on an AMD EPYC (Zen 4) with 2 threads the BLAS that
``F.linear`` and ``mm`` call ran the audio gated unit's products at 108-165 GFLOP/s and the
VLAD assignment's at 41-53, oneDNN at 166-201 and 77-122. Same float32 arithmetic, rounded in
another order. Anything else (other devices and dtypes, autocast) goes to ``F.linear``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor


def _onednn_linear() -> Any:
    """torch's oneDNN inner product (the operator's packet), or None where this build has none."""
    if not torch.backends.mkldnn.is_available():
        return None
    try:
        return torch.ops.mkldnn._linear_pointwise
    except (AttributeError, RuntimeError):
        return None


ONEDNN_LINEAR = _onednn_linear()
"""The operator ``inner_product`` calls on the CPU (None: it always calls ``F.linear``); a flop
counter needs its formula (``perf.step.count_flops``)."""


def inner_product(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x W^T + b``; ``x`` and ``weight`` may be transposed views. oneDNN's for float32 on
    the CPU outside autocast, where torch has it; ``F.linear`` otherwise."""
    if (
        ONEDNN_LINEAR is None
        or x.device.type != "cpu"
        or x.dtype != torch.float32
        or weight.dtype != torch.float32
        or torch.is_autocast_enabled("cpu")
    ):
        return F.linear(x, weight, bias)
    return ONEDNN_LINEAR.default(x, weight, bias, "none", [], "")
