"""On a CUDA GPU: the training loop never makes the host wait for the device between steps
(torch's sync debug mode turns every wait into an error), and features read onto the GPU a
block at a time equal those read into host memory. Skipped without a GPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from feature_files import plain_features

from atr_bench.data.feature_store import read_features
from atr_bench.data.loading import Splits
from atr_bench.data.onto_device import read_onto
from atr_bench.perf.step import random_split
from atr_bench.plugins.registry import registry
from atr_bench.run.config import RunRequest
from atr_bench.run.execute import build_model
from atr_bench.run.optim import build_optimizer
from atr_bench.run.plan import Plan, plan
from atr_bench.run.training import batching, loss_function, train_step

if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

CUDA = torch.device("cuda")


def _plan(protocol: str, pooling: str, options: tuple[tuple[str, str], ...]) -> Plan:
    """A protocol's plan at the AudioCaps shape (the data is never read)."""
    request = RunRequest(
        dataset="audiocaps",
        extractor="panns_cnn14",
        pooling=pooling,
        pooling_options=options,
        protocol=protocol,
        batch_size=16,
        audio_frames=31,
        text_tokens=20,
    )
    return plan(request, registry(), Path("data"))


CASES = [(protocol, "netrvlad", ()) for protocol in ("lou2022", "lou2022-tuned", "pairs")]
CASES += [("lou2022-tuned", "netrvlad", (("kernel", "torch"),))]
CASES += [("lou2022-tuned", pooling, ()) for pooling in ("netvlad", "mean", "max", "transformer")]


@pytest.mark.parametrize(("protocol", "pooling", "options"), CASES)
def test_an_epochs_batches_and_steps_never_wait_for_the_gpu(protocol, pooling, options):
    the_plan = _plan(protocol, pooling, options)
    c = the_plan.config
    split = random_split(the_plan, 4 * 16, 5, "cuda")
    torch.manual_seed(0)
    model = build_model(the_plan, Splits(split, split, split)).to(CUDA)
    optimizer, _ = build_optimizer(
        model.parameters(), c.lr, c.weight_decay, c.gamma, the_plan.protocol.optimizer
    )
    draw, loss_fn = batching(c.batch_items), loss_function(c)
    model.train()
    for batch in draw(split, torch.Generator().manual_seed(0), 16, CUDA):  # compiles, sets up
        train_step(model, split, batch, optimizer, loss_fn, c, CUDA)
    batches = draw(split, torch.Generator().manual_seed(1), 16, CUDA)
    first = next(batches)  # the epoch's order goes to the GPU once, before its batches
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")  # from here, any wait for the GPU raises
    try:
        losses = [train_step(model, split, first, optimizer, loss_fn, c, CUDA)]
        losses += [train_step(model, split, b, optimizer, loss_fn, c, CUDA) for b in batches]
    finally:
        torch.cuda.set_sync_debug_mode("default")
    items = split.n_clips if c.batch_items == "clips" else split.n_captions
    assert len(losses) == items // 16 and torch.isfinite(torch.stack(losses)).all()


def test_features_read_onto_the_gpu_equal_those_read_into_host_memory(tmp_path, monkeypatch):
    from atr_bench.data import streamed

    path = plain_features(tmp_path / "f.h5", [3 + i for i in range(9)], 16)
    order = [f"c{i}" for i in (4, 0, 8, 2, 7)]
    monkeypatch.setattr(streamed, "SCAN_BYTES", 2 * 6 * 16 * 4)  # blocks of two clips
    expected, lengths = read_features(path, order, frames=6, dim=16)
    audio, got_lengths = read_onto(path, order, 6, 16, CUDA, progress=False)
    assert audio.device.type == "cuda" and torch.equal(audio.cpu(), expected)
    assert torch.equal(got_lengths, lengths)
