"""The end-to-end benchmark's code on a tiny shape: its cases, a real training step and
evaluation pass built by the harness, and its Markdown table."""

from __future__ import annotations

import json

import pytest
import torch

from atr_bench.errors import AtrBenchError
from atr_bench.perf import step
from atr_bench.perf.step_report import TRAIN_CLIPS, write_step_report
from atr_bench.plugins.registry import registry

TINY = step.StepShape("audiocaps", frames=5, tokens=4, batch=4, captions=2, eval_clips=6)


def test_cases_cross_poolings_shapes_phases_and_devices():
    cases = step.step_cases(registry(), ["mean", "lstm"], ["clotho"], ["cpu", "cuda"])
    assert {(c.pooling, c.shape.name, c.phase, c.device) for c in cases} == {
        (p, "clotho", phase, device)
        for p in ("mean", "lstm")
        for phase in step.PHASES
        for device in ("cpu", "cuda")
    }
    assert step.step_cases(registry(), ["mean"], ["text"]) == []  # no step at the text shape
    assert {s.frames for s in step.STEP_SHAPES} == {31, 90}
    with pytest.raises(AtrBenchError, match="unknown pooling 'nope'"):
        step.step_cases(registry(), ["nope"])


def test_the_plan_is_the_default_protocol_at_the_shape():
    the_plan = step.step_plan(step.StepCase("netrvlad", TINY, "train", "cpu"), registry())
    c = the_plan.config
    assert (c.audio_frames, c.text_tokens, c.batch_size) == (5, 4, 4)
    assert c.protocol == "lou2022-tuned" and c.batch_items == "clips"
    split = step.random_split(the_plan, 3, 2, "cpu")
    assert split.audio.shape == (3, 5, 2048) and split.text.shape == (6, 4, 300)
    assert split.caption_clip.tolist() == [0, 0, 1, 1, 2, 2]
    assert (split.audio_len >= 3).all() and (split.audio_len <= 5).all()


@pytest.mark.parametrize("pooling", ["mean", "netrvlad"])
def test_a_training_step_trains_the_model_and_an_evaluation_pass_runs(pooling, monkeypatch):
    built, batches = [], []
    build, train_step = step.build_model, step.train_step
    monkeypatch.setattr(step, "build_model", lambda *a: built.append(build(*a)) or built[-1])
    monkeypatch.setattr(step, "train_step", lambda *a: batches.append(a[2]) or train_step(*a))
    call = step.make_call(step.StepCase(pooling, TINY, "train", "cpu"), registry())
    before = [p.detach().clone() for p in built[0].parameters()]
    assert 1 <= step.warm_up(call) <= step.MAX_STEP_ROUNDS
    after = [p.detach().clone() for p in built[0].parameters()]
    call()
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(after, built[0].parameters(), strict=True))
    clips, captions, _ = batches[0]
    assert built[0].training and len(clips) == TINY.batch and len(captions) == 8
    assert batches[0] is batches[1]  # the same batch every call
    step.make_call(step.StepCase(pooling, TINY, "eval", "cpu"), registry())()
    assert not built[1].training  # evaluate() ran


def test_flops_count_the_gated_units_products_whichever_library_runs_them():
    from atr_bench.run.grad_buffer import GradBufferLinear

    layer, x = GradBufferLinear(40, 24), torch.randn(16, 40, requires_grad=True)
    product = 2 * 16 * 40 * 24  # one [16, 40] x [40, 24] product
    # forward, the input's gradient and the weight's gradient: three products
    assert step.count_flops(lambda: layer(x).sum().backward()) == 3 * product


def test_cuda_cases_say_so_without_cuda():
    if torch.cuda.is_available():
        pytest.skip("checks the message on a CPU machine")
    with pytest.raises(AtrBenchError, match="CUDA is not available"):
        step.make_call(step.StepCase("mean", TINY, "eval", "cuda"), registry())


def test_report_puts_train_and_eval_side_by_side(tmp_path):
    rows = [
        {**step.StepCase("mean", shape, phase, "cpu").info(), "step_clips_per_s": clips}
        for shape in step.STEP_SHAPES
        for phase, clips in (("train", 500.0), ("eval", 2000.0))
    ]
    machine = {"cpu": "Test CPU", "threads": 2, "torch": "9.9", "bandwidth_gb_s": {"cpu": 3.0}}
    path = tmp_path / "r.json"
    data = {"machine_info": {"atr_bench": machine}, "datetime": "2026-01-02T03:04:05"}
    path.write_text(json.dumps({**data, "benchmarks": [{"extra_info": r} for r in rows]}))
    text = write_step_report(path, tmp_path / "t.md", "atr-bench bench").read_text()
    body = [
        [cell.strip() for cell in line.split("|")[1:-1]]
        for line in text.splitlines()
        if line.startswith("| mean")
    ]
    epoch = TRAIN_CLIPS["audiocaps"] / 500
    assert body[0] == [
        "mean",
        "audiocaps 31x2048, text 20x300",
        "500",
        f"{epoch:.3g}",
        "2,000",
        "-",
    ]
    assert body[1][1] == "clotho 90x2048, text 20x300" and "Test CPU, 2 torch thread(s)" in text
    for row in rows:  # with flop counts and a measured matrix rate: the share of it
        row["step_gflop_s"] = 30.0
    rates = {**machine, "matmul_gflop_s": {"cpu": {"fp32": 50.0}}}
    path.write_text(
        json.dumps(
            {
                **data,
                "machine_info": {"atr_bench": rates},
                "benchmarks": [{"extra_info": r} for r in rows],
            }
        )
    )
    text = write_step_report(path, tmp_path / "t.md", "atr-bench bench").read_text()
    assert "| 60% (30 of 50 GFLOP/s)" in text
    with pytest.raises(AtrBenchError, match="holds no training-step results"):
        path.write_text(json.dumps({"benchmarks": []}))
        write_step_report(path, tmp_path / "t.md", "c")
