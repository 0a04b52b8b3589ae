"""A training step reads no tensor's values back to the host on the paths a GPU takes, where
every such read makes the host wait for the device's queue. Checked on the CPU: the poolings'
device test (``simple.reads_without_waiting``) is made false, as on a GPU, and a dispatch mode
records every operator that reads values (``.item()``, ``bool()``, ``int()``, ``nonzero``,
``bincount``, boolean indexing, ``repeat_interleave`` without its output size, ...). What it
cannot see are copies to the host (``.cpu()``, ``.tolist()``: no copies on the CPU);
``tests/test_cuda_no_waits.py`` checks everything on a GPU."""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

import pytest
import torch
from test_pooling_reference import as_on_a_gpu
from torch.utils._python_dispatch import TorchDispatchMode

from atr_bench.data.loading import Splits
from atr_bench.perf.step import random_split
from atr_bench.plugins.registry import registry
from atr_bench.run.config import RunRequest
from atr_bench.run.execute import build_model
from atr_bench.run.optim import build_optimizer
from atr_bench.run.plan import plan
from atr_bench.run.training import batching, loss_function, train_step

aten = torch.ops.aten
READ_BACK = {
    aten._local_scalar_dense.default,  # .item(), bool(), int(), float() of a tensor
    aten.nonzero.default,
    aten.bincount.default,
    aten.masked_select.default,
    aten._unique2.default,
    aten.unique_consecutive.default,
    aten.equal.default,
}
"""Operators that read values or size their output by them."""
CPU = torch.device("cpu")


class ReadsBack(TorchDispatchMode):
    """Records, for each operator that reads values back, the innermost atr-bench line."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if _reads_back(func, args, kwargs):
            ours = [f for f in traceback.extract_stack() if "/atr_bench/" in f.filename]
            where = ours[-1] if ours else None
            self.seen.append(f"{where.filename}:{where.lineno}: {where.line}" if where else "?")
        return func(*args, **kwargs)


def _reads_back(func: Any, args: tuple, kwargs: dict) -> bool:
    if func in READ_BACK:
        return True
    if func.overloadpacket is aten.repeat_interleave:
        return kwargs.get("output_size") is None
    if func.overloadpacket is aten.index:  # a boolean index is a nonzero
        return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in args[1])
    return False


def _steps(protocol: str, pooling: str, gpu_paths: bool, monkeypatch) -> tuple[list, list]:
    """Two warm-up steps, then the losses of four steps and what they read back."""
    if gpu_paths:
        as_on_a_gpu(monkeypatch)
    request = RunRequest(dataset="synthcaps", extractor="lms", pooling=pooling,
                         protocol=protocol, batch_size=4)  # fmt: skip
    the_plan = plan(request, registry(), Path("data"))  # the dataset is only named, never read
    c = the_plan.config
    split = random_split(the_plan, 24, 5, CPU)
    torch.manual_seed(0)
    model = build_model(the_plan, Splits(split, split, split))
    optimizer, _ = build_optimizer(
        model.parameters(), c.lr, c.weight_decay, c.gamma, the_plan.protocol.optimizer
    )
    loss_fn = loss_function(c)
    batches = list(batching(c.batch_items)(split, torch.Generator().manual_seed(0), 4, CPU))
    model.train()
    for batch in batches[:2]:
        train_step(model, split, batch, optimizer, loss_fn, c, CPU)
    with ReadsBack() as reads:
        losses = [train_step(model, split, b, optimizer, loss_fn, c, CPU) for b in batches[2:6]]
    return losses, reads.seen


CASES = [(protocol, "netrvlad") for protocol in ("lou2022", "lou2022-tuned", "pairs")]
CASES += [("lou2022-tuned", pooling) for pooling in ("netvlad", "mean", "max", "transformer")]


@pytest.mark.parametrize(("protocol", "pooling"), CASES)
def test_a_step_on_the_gpu_paths_reads_nothing_back_and_trains_alike(protocol, pooling):
    with pytest.MonkeyPatch.context() as patch:
        on_gpu_paths, reads = _steps(protocol, pooling, True, patch)
    assert reads == []
    with pytest.MonkeyPatch.context() as patch:
        on_cpu_paths, _ = _steps(protocol, pooling, False, patch)
    torch.testing.assert_close(torch.stack(on_gpu_paths), torch.stack(on_cpu_paths))


def test_the_cpu_paths_checks_are_seen(monkeypatch):
    """The recorder is not blind: on the CPU the poolings read the padding to skip a copy."""
    _, reads = _steps("lou2022", "mean", False, monkeypatch)
    assert reads and all("poolings/simple.py" in read for read in reads)
