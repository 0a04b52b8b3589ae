"""End-to-end speed: clips/s of a whole training step and of one evaluation pass, per pooling,
at the paper's shapes, built by the harness's own plan, model, loss and optimiser.

A training step is what ``atr-bench run`` does per batch (``training.train_step``: both
poolings, both gated embedding units, similarity, loss, backward, the Ranger step) on 128 clips
with 5 captions each; an evaluation pass is ``evaluation.evaluate`` (every clip and caption
embedded, both directions' metrics) on a test-sized split of 1000 clips and 5000 captions.
The data are random features of the dataset's shapes; only the time is measured.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from atr_bench.data.loading import Splits
from atr_bench.data.split import SplitData
from atr_bench.errors import AtrBenchError
from atr_bench.plugins.registry import Registry
from atr_bench.run.config import RunRequest
from atr_bench.run.evaluation import evaluate
from atr_bench.run.execute import build_model
from atr_bench.run.optim import build_optimizer
from atr_bench.run.plan import Plan, plan
from atr_bench.run.training import batching, loss_function, train_step


@dataclass(frozen=True)
class StepShape:
    """A dataset's audio ``frames x dim`` (its panns_cnn14 features) and text ``tokens``."""

    name: str
    frames: int
    tokens: int = 20
    batch: int = 128
    captions: int = 5
    eval_clips: int = 1000


STEP_SHAPES = (StepShape("audiocaps", 31), StepShape("clotho", 90))
PHASES = ("train", "eval")
EXTRACTOR = "panns_cnn14"
STEP_BUDGET_S = 1.0
"""Timed seconds aimed at per case after one warm-up call; slower calls get one round."""
MAX_STEP_ROUNDS = 10
STEADY_AFTER = 5
"""Training steps taken before a step is timed: RAdam's first five (with beta2 0.999) are not
yet rectified and take another path; every later step, nearly all of a run's, is timed."""


@dataclass(frozen=True)
class StepCase:
    """One measurement: a pooling's training step or evaluation pass on one shape and device."""

    pooling: str
    shape: StepShape
    phase: str
    device: str

    def __str__(self) -> str:
        return f"{self.pooling}-{self.shape.name}-{self.phase}-{self.device}"

    def info(self) -> dict[str, Any]:
        """The fields a report needs, flat (stored in the benchmark's ``extra_info``)."""
        s = self.shape
        return {
            "pooling": self.pooling,
            "phase": self.phase,
            "device": self.device,
            "dataset": s.name,
            "frames": s.frames,
            "tokens": s.tokens,
            "clips": s.batch if self.phase == "train" else s.eval_clips,
        }


def step_cases(
    registry: Registry,
    poolings: Iterable[str] = (),
    shapes: Iterable[str] = (),
    devices: Iterable[str] = ("cpu",),
    step_shapes: tuple[StepShape, ...] = STEP_SHAPES,
) -> list[StepCase]:
    """Every registered pooling (or those named) x the shapes asked for that have a step
    shape x phases x devices; unknown pooling names are errors."""
    names = list(poolings) or [found.spec.name for found in registry.all("pooling")]
    for name in names:
        registry.find("pooling", name)
    wanted = set(shapes) or {s.name for s in step_shapes}
    return [
        StepCase(name, shape, phase, device)
        for name in names
        for shape in step_shapes
        if shape.name in wanted
        for phase in PHASES
        for device in devices
    ]


def step_plan(case: StepCase, registry: Registry) -> Plan:
    """The default protocol's plan for this pooling on the case's dataset and extractor."""
    config = RunRequest(
        dataset=case.shape.name,
        extractor=EXTRACTOR,
        pooling=case.pooling,
        batch_size=case.shape.batch,
        text_tokens=case.shape.tokens,
        audio_frames=case.shape.frames,
    )
    return plan(config, registry, Path("data"))  # the dataset is only named, never read


def random_split(
    the_plan: Plan, clips: int, captions: int, device: str | torch.device, seed: int = 0
) -> SplitData:
    """``clips`` clips of random features, each with ``captions`` captions; lengths are
    uniform in ``[T/2, T]`` with zeros in the padding, as the data layer writes them. Made on
    ``device`` (a full-size split need never pass through host memory)."""
    c = the_plan.config
    audio_dim = the_plan.components["extractor"].spec.dim
    text_dim = the_plan.components["text_encoder"].spec.dim
    gen = torch.Generator(device=device).manual_seed(seed)

    def padded(rows: int, frames: int, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = torch.randint(
            (frames + 1) // 2, frames + 1, (rows,), generator=gen, device=device
        )
        keep = torch.arange(frames, device=device)[None, :] < lengths[:, None]
        values = torch.randn(rows, frames, dim, generator=gen, device=device)
        return values.mul_(keep[..., None]), lengths

    audio, audio_len = padded(clips, c.audio_frames, audio_dim)
    text, text_len = padded(clips * captions, c.text_tokens, text_dim)
    return SplitData(
        clip_ids=tuple(f"clip{i}" for i in range(clips)),
        audio=audio,
        audio_len=audio_len,
        text=text,
        text_len=text_len,
        caption_clip=torch.arange(clips, device=device).repeat_interleave(captions),
        captions=tuple(f"caption{i}" for i in range(clips * captions)),
    )


def make_call(case: StepCase, registry: Registry) -> Callable[[], None]:
    """The case's timed call, on a model built as ``atr-bench run`` builds it (seed 0)."""
    if case.device == "cuda" and not torch.cuda.is_available():
        raise AtrBenchError("CUDA is not available")
    the_plan = step_plan(case, registry)
    c, device = the_plan.config, torch.device(case.device)
    clips = case.shape.batch if case.phase == "train" else case.shape.eval_clips
    split = random_split(the_plan, clips, case.shape.captions, case.device)
    torch.manual_seed(0)
    model = build_model(the_plan, Splits(split, split, split)).to(device)
    sync = torch.cuda.synchronize if case.device == "cuda" else (lambda: None)
    if case.phase == "eval":

        def evaluation() -> None:
            evaluate(model, split, device, c.amp)
            sync()

        return evaluation
    optimizer, _ = build_optimizer(
        model.parameters(), c.lr, c.weight_decay, c.gamma, the_plan.protocol.optimizer
    )
    loss_fn = loss_function(c)
    batch = next(batching(c.batch_items)(split, torch.Generator().manual_seed(0), clips, device))
    model.train()

    def step() -> None:
        train_step(model, split, batch, optimizer, loss_fn, c, device).item()

    for _ in range(STEADY_AFTER):
        step()
    return step


def warm_up(call: Callable[[], None]) -> int:
    """Call once (first-call costs go here) and return how many rounds fit the budget."""
    started = time.perf_counter()
    call()
    seconds = time.perf_counter() - started
    return max(1, min(MAX_STEP_ROUNDS, int(STEP_BUDGET_S / max(seconds, 1e-9))))


def _inner_product_flops(x_shape: Any, w_shape: Any, *_: Any, **__: Any) -> int:
    """``x W^T``: two flops per multiply-add, as torch counts a matrix product."""
    return 2 * math.prod(x_shape) * w_shape[0]


def count_flops(call: Callable[[], None]) -> int:
    """The matrix flops of one call (torch's flop counter: products and convolutions, and
    oneDNN's inner product, which ``atr_bench.inner_product`` calls and torch does not count)."""
    from torch.utils.flop_counter import FlopCounterMode

    from atr_bench.inner_product import ONEDNN_LINEAR

    custom = {} if ONEDNN_LINEAR is None else {ONEDNN_LINEAR: _inner_product_flops}
    with FlopCounterMode(display=False, custom_mapping=custom) as counter:
        call()
    return counter.get_total_flops()
