"""Pooling throughput: the shapes, cases, inputs, timed steps and work bounds (bytes moved,
matrix flops) of the suite that ``pytest benchmarks`` and ``atr-bench bench`` both run."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from atr_bench.errors import AtrBenchError
from atr_bench.perf.shapes import SHAPES, Shape
from atr_bench.plugins.registry import Registry
from atr_bench.plugins.specs import PoolingSpec

MODES = ("forward", "forward+backward")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
DEVICES = ("cpu", "cuda")
IMPLS = ("registered", "baseline")
"""``registered``: the pooling as its plugin builds it; ``baseline``: the same formula written
the plain vectorised way (``baselines.py``), timed in fp32 at the paper's shapes (enough for
the speed-up)."""

ROUND_BUDGET_S = 0.2
"""Timed seconds aimed at per case (after warming up); slower steps get a single round."""
MAX_ROUNDS = 20
WARMUP_FRACTION = 8
"""The first warm-up call runs on ``batch / WARMUP_FRACTION`` clips."""


@dataclass(frozen=True)
class Case:
    """One measurement: a pooling implementation on one shape, mode, dtype and device.
    ``variant`` (``"kernel=triton"``) sets one execution-only option away from its default."""

    pooling: str
    impl: str
    shape: Shape
    mode: str
    dtype: str
    device: str
    variant: str = ""

    def __str__(self) -> str:
        parts = (self.pooling, self.variant, self.impl, self.shape.name, self.mode, self.dtype)
        return "-".join(part for part in (*parts, self.device) if part)

    def info(self) -> dict[str, Any]:
        """The fields a report needs, flat (stored in the benchmark's ``extra_info``)."""
        fields = {**asdict(self), **asdict(self.shape)}
        fields["shape"] = fields.pop("name")
        return fields


def cases(
    registry: Registry,
    baselines: Collection[str],
    poolings: Iterable[str] = (),
    shapes: Iterable[str] = (),
    devices: Iterable[str] = DEVICES,
    dtypes: Iterable[str] = (),
) -> list[Case]:
    """Every registered pooling (or those named) x shapes x modes x dtypes (or those named) x
    devices, with a
    ``baseline`` case beside each fp32 paper-shape case of the poolings in ``baselines``;
    unknown names are errors."""
    names = list(poolings) or [found.spec.name for found in registry.all("pooling")]
    for name in names:
        registry.find("pooling", name)
    wanted = set(shapes) or {s.name for s in SHAPES}
    unknown = sorted(wanted - {s.name for s in SHAPES})
    if unknown:
        known = ", ".join(s.name for s in SHAPES)
        raise AtrBenchError(f"unknown shape {unknown[0]!r}; known: {known}")
    types = set(dtypes) or set(DTYPES)
    if types - set(DTYPES):
        raise AtrBenchError(f"unknown dtype {sorted(types - set(DTYPES))[0]!r}; known: fp32, bf16")
    return [
        Case(name, impl, shape, mode, dtype, device, variant)
        for name in names
        for impl in IMPLS
        for variant in (
            ("", *variants(registry.get("pooling", name))) if impl == "registered" else ("",)
        )
        for shape in SHAPES
        if shape.name in wanted
        for mode in MODES
        for dtype in DTYPES
        if dtype in types
        if impl == "registered" or (name in baselines and shape.paper and dtype == "fp32")
        for device in devices
    ]


def variants(spec: PoolingSpec) -> list[str]:
    """``option=choice`` for every other choice of the options that change how a pooling runs
    but not its numbers (a VLAD's ``kernel``), each timed beside the defaults."""
    return [
        f"{option.name}={choice}"
        for option in spec.options
        if not option.affects_results and option.choices
        for choice in option.choices
        if choice != option.default
    ]


def build_pooling(spec: PoolingSpec, case: Case) -> nn.Module:
    """The pooling with its default options for the case's side, on its device and dtype."""
    base = spec.text_defaults if case.shape.side == "text" else None
    given = dict([case.variant.split("=", 1)]) if case.variant else None
    module = spec.create(case.shape.dim, **spec.resolve_options(given, base))
    assert isinstance(module, nn.Module)  # a pooling is a module (the contract)
    return module.to(device=case.device, dtype=DTYPES[case.dtype])


def make_inputs(case: Case, batch: int | None = None, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Frames ``[B, T, D]`` (``B`` the shape's batch unless given) and a prefix mask whose
    lengths are uniform in ``[T/2, T]``; padded frames are zeros, as the data layer writes them."""
    shape = case.shape
    batch = batch or shape.batch
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint((shape.frames + 1) // 2, shape.frames + 1, (batch,), generator=gen)
    mask = torch.arange(shape.frames)[None, :] < lengths[:, None]
    x = torch.randn(batch, shape.frames, shape.dim, generator=gen) * mask[..., None]
    return x.to(case.device, DTYPES[case.dtype]), mask.to(case.device)


def make_step(module: nn.Module, x: Tensor, mask: Tensor, mode: str) -> Callable[[], None]:
    """One timed call. ``forward``: inference (eval mode, no autograd). ``forward+backward``:
    a training step's pooling work (train mode), with gradients for the input and every
    parameter, so parameter-free poolings have a backward too."""
    sync = torch.cuda.synchronize if x.device.type == "cuda" else _no_sync
    if mode == "forward":
        module.eval()

        def forward() -> None:
            with torch.no_grad():
                module(x, mask)
            sync()

        return forward
    module.train()
    x = x.detach().requires_grad_(True)
    out_dim: int = module.out_dim  # type: ignore[assignment]  # every pooling's int attribute
    grad = torch.randn(x.shape[0], out_dim, device=x.device, dtype=x.dtype)

    def forward_backward() -> None:
        x.grad = None
        module.zero_grad(set_to_none=True)
        module(x, mask).backward(grad)
        sync()

    return forward_backward


def _no_sync() -> None:
    """CPU work is finished when the call returns."""


def prepare(module: nn.Module, case: Case) -> tuple[Callable[[], None], int]:
    """The case's timed step, warmed up, and how many rounds fit the budget. One-time costs (a
    kernel compiled for a size, a library set up: on a GPU they made a first call 100x slower)
    fall on the first call of each size, so a warm-up on an eighth of the batch is called
    twice and its second call estimates the cost. A step estimated slower than the whole
    budget gets one round and no full-size warm-up (its one-time costs are small beside it); a
    quicker one is called twice at full size first, and the second call sets the rounds."""
    small = max(1, case.shape.batch // WARMUP_FRACTION)
    small_step = make_step(module, *make_inputs(case, small), case.mode)
    small_step()
    estimate = _seconds(small_step)
    step = make_step(module, *make_inputs(case), case.mode)
    if estimate * case.shape.batch / small >= ROUND_BUDGET_S:
        return step, 1
    step()
    seconds = _seconds(step)
    return step, max(1, min(MAX_ROUNDS, int(ROUND_BUDGET_S / max(seconds, 1e-9))))


def _seconds(step: Callable[[], None]) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def min_bytes(module: nn.Module, case: Case) -> int:
    """A lower bound on the memory traffic of one call: read the input, mask and parameters,
    write the output; a backward also reads the output gradient, writes the input and
    parameter gradients and, when there are parameters, reads the input again for theirs."""
    shape, item = case.shape, DTYPES[case.dtype].itemsize
    data = shape.batch * shape.frames * shape.dim * item
    params = sum(p.numel() * p.element_size() for p in module.parameters())
    out_dim: int = module.out_dim  # type: ignore[assignment]  # every pooling's int attribute
    outputs = shape.batch * out_dim * item
    total = data + shape.batch * shape.frames + params + outputs
    if case.mode == "forward":
        return total
    return total + outputs + data + params + (data if params else 0)


def matmul_flops(module: nn.Module, case: Case) -> float:
    """The floating-point operations of one call at the case's batch: torch's flop counter on
    a call at an eighth of the batch, scaled up (flops grow with the clips), plus the cells'
    products of any ``nn.LSTM`` that ran as one fused op the counter does not see."""
    small = max(1, case.shape.batch // WARMUP_FRACTION)
    x, mask = make_inputs(case, small)
    step = make_step(module, x, mask, case.mode)
    counter = FlopCounterMode(display=False)
    with counter:
        step()
    counts = counter.get_flop_counts()
    root = type(module).__name__
    unseen = [
        lstm
        for name, lstm in module.named_modules()
        if isinstance(lstm, nn.LSTM) and not sum(counts.get(f"{root}.{name}", {}).values())
    ]
    scale = 3 if case.mode == "forward+backward" else 1  # a backward: twice the forward's
    hand = scale * sum(_lstm_flops(lstm, int(mask.sum())) for lstm in unseen)
    return (counter.get_total_flops() + hand) * case.shape.batch / small


def _lstm_flops(lstm: nn.LSTM, frames: int) -> int:
    """Forward products of an LSTM over ``frames`` real frames: per layer and direction,
    ``[frames, in] x [in, 4H]`` and ``[frames, H] x [H, 4H]`` (2 flops a multiply-add)."""
    directions = 2 if lstm.bidirectional else 1
    hidden = lstm.hidden_size
    total = 0
    for layer in range(lstm.num_layers):
        width = lstm.input_size if layer == 0 else hidden * directions
        total += directions * 2 * frames * 4 * hidden * (width + hidden)
    return total
