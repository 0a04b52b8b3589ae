"""NeXtVLAD: the harness's conformance kit, the formula clip by clip, option errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from atr_bench_nextvlad.nextvlad import NeXtVLAD
from atr_bench_nextvlad.plugin import SPEC, atr_bench_poolings

from atr_bench import AtrBenchError
from atr_bench.dev.conformance import POOLING_CHECKS, check_spec


@pytest.mark.parametrize("check", [check_spec, *POOLING_CHECKS], ids=lambda c: c.__name__)
@pytest.mark.parametrize("options", [{}, {"clusters": 3, "expansion": 3, "groups": 4}])
def test_conformance(check, options):
    check(SPEC, options)


def test_hook_returns_the_spec():
    assert atr_bench_poolings() == [SPEC]
    assert SPEC.resolve_options(base=SPEC.text_defaults)["clusters"] == 20


def test_matches_the_formula_clip_by_clip():
    torch.manual_seed(0)
    module = NeXtVLAD(4, clusters=3, expansion=2, groups=2).eval()
    x = torch.randn(2, 5, 4)
    lengths = [5, 2]
    mask = torch.arange(5)[None, :] < torch.tensor(lengths)[:, None]
    out = module(x, mask)
    assert module.out_dim == 3 * 4 == out.shape[1]
    for row, length in enumerate(lengths):
        wide = module.expand(x[row, :length])  # [T, 8]
        gate = torch.sigmoid(module.attention(wide))  # [T, G]
        assign = torch.softmax(module.assign(wide).view(length, 2, 3), -1)  # [T, G, K]
        slices = wide.view(length, 2, 4)  # [T, G, 4]
        clusters = []
        for k in range(3):
            residual = torch.zeros(4)
            for t in range(length):
                for g in range(2):
                    weight = gate[t, g] * assign[t, g, k]
                    residual += weight * (slices[t, g] - module.centroids[k])
            clusters.append(F.normalize(residual, dim=0))
        expected = F.normalize(torch.cat(clusters), dim=0)
        torch.testing.assert_close(out[row], expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"groups": 5}, r"groups=5 must be a divisor of expansion \* in_dim = 16"),
        ({"clusters": 0}, "clusters=0 must be >= 1"),
        ({"expansion": 0}, "expansion=0 must be >= 1"),
    ],
)
def test_bad_options_name_the_fix(options, message):
    with pytest.raises(AtrBenchError, match=message):
        SPEC.build(8, **SPEC.resolve_options(options))
