"""The CPU inner product is linear's, for weights and inputs given as transposed views, and
leaves other dtypes and autocast to ``F.linear``."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from atr_bench.inner_product import inner_product


def test_a_weight_and_its_transposed_view() -> None:
    torch.manual_seed(4)
    x, weight, bias = torch.randn(16, 40), torch.randn(24, 40), torch.randn(24)
    torch.testing.assert_close(inner_product(x, weight, bias), F.linear(x, weight, bias))
    grad = torch.randn(16, 24)
    torch.testing.assert_close(inner_product(grad, weight.t()), grad @ weight)


def test_both_operands_transposed_views() -> None:
    torch.manual_seed(5)
    assign, frames = torch.randn(300, 12), torch.randn(300, 64)  # sum over rows: a^T x
    exact = assign.double().t() @ frames.double()  # 300-term sums: float32 rounds each its way
    result = inner_product(assign.t(), frames.t())
    torch.testing.assert_close(result.double(), exact, rtol=1e-5, atol=1e-4)


def test_float64_and_autocast_take_linear() -> None:
    torch.manual_seed(6)
    x, weight, bias = torch.randn(8, 40), torch.randn(24, 40), torch.randn(24)
    doubles = x.double(), weight.double(), bias.double()
    assert torch.equal(inner_product(*doubles), F.linear(*doubles))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert inner_product(x, weight, bias).dtype == torch.bfloat16
