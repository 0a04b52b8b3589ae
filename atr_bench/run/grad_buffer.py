"""A linear layer whose weight gradient is written into one buffer kept for the whole run.

On the CPU, glibc hands every allocation over 32 MB a fresh mapping and unmaps it when freed,
so a large weight gradient comes back at every step as new pages the kernel must fault in and
zero. At the paper's AudioCaps shape the audio gated unit's weight (24,576 x 2,048, 200 MB) and
the text one's (49 MB) cost that at every training step, huge pages or not, and the two context
gates' (16 MB each) made their products run at two thirds of the others' rate. Here the backward
writes the weight gradient with one matrix product straight into the layer's buffer (or adds
it to the gradient already there, as autograd accumulates) and hands autograd nothing to
allocate for it. Only the CPU takes this path: CUDA's caching allocator reuses freed blocks
already, and autocast keeps its own casts.

Both products with the weight (the output and the input's gradient) go through oneDNN's inner
product (``atr_bench.inner_product``), faster than the BLAS at these shapes.

The buffer is reused from step to step, so a caller that keeps a reference to last step's
``weight.grad`` sees it overwritten; optimisers read the gradient within the step, as usual.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from atr_bench.inner_product import inner_product


class GradBufferLinear(nn.Linear):
    """``nn.Linear`` (same parameters, same state dict) with its weight gradient kept in one
    buffer on the CPU."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__(in_features, out_features, bias)
        self._grad_buffer: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        if not torch.is_grad_enabled():  # evaluation: the product training takes
            return inner_product(x, self.weight, self.bias)
        if self.weight.requires_grad and self._on_cpu(x):
            return _BufferedLinear.apply(x, self.weight, self.bias, self)
        return F.linear(x, self.weight, self.bias)  # elsewhere, or frozen: autograd's own way

    def _on_cpu(self, x: Tensor) -> bool:
        return (
            x.device.type == "cpu"
            and x.dim() == 2
            and x.dtype == self.weight.dtype
            and not torch.is_autocast_enabled("cpu")
        )

    def weight_grad(self, grad_out: Tensor, x: Tensor) -> None:
        """Set ``weight.grad`` to ``grad_out^T x``, or add it to the gradient there."""
        weight = self.weight
        if weight.grad is not None:
            weight.grad.addmm_(grad_out.t(), x)
            return
        buffer = self._grad_buffer
        if buffer is None or buffer.shape != weight.shape or buffer.dtype != weight.dtype:
            buffer = self._grad_buffer = torch.empty_like(weight)
        torch.mm(grad_out.t(), x, out=buffer)
        weight.grad = buffer


class _BufferedLinear(torch.autograd.Function):
    """``x W^T + b``; the backward gives ``x`` and ``b`` their gradients through autograd and
    writes ``W``'s into the layer's buffer."""

    @staticmethod
    def forward(
        ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None, layer: GradBufferLinear
    ) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.layer = layer
        return inner_product(x, weight, bias)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, None, Tensor | None, None]:
        x, weight = ctx.saved_tensors
        grad_x = inner_product(grad_out, weight.t(), None) if ctx.needs_input_grad[0] else None
        if ctx.needs_input_grad[1]:
            ctx.layer.weight_grad(grad_out, x)
        grad_bias = grad_out.sum(0) if ctx.needs_input_grad[2] else None
        return grad_x, None, grad_bias, None
