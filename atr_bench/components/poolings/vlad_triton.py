"""Triton kernels for the VLAD products, with the mask applied where the frames are read.

Padded frames are never loaded (a masked load yields zero), so no ``[B, T, D]`` masked copy is
made and garbage in the padding cannot leak. Two kernels cover everything the forward and
backward read from the frames: ``x[b] m[b]^T`` (logits, and the assignment gradient) and
``a[b]^T x[b]`` (the aggregation with the centroid term fused in, and the weight gradient).
Accumulation is in float32. They run on CUDA, or on CPU tensors in Triton's interpreter
(``TRITON_INTERPRET=1``), which is how the tests check them on machines without a GPU.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from atr_bench.components.poolings.vlad_frames import DenseFrames

WEIGH_BLOCK_D = 128
TARGET_PROGRAMS = 256
"""Programs a ``weigh_all`` launch aims for (it splits the batch into that many partials)."""


@triton.jit
def _times_kernel(
    x_ptr, keep_ptr, m_ptr, bias_ptr, out_ptr,
    frames, dim, n,
    x_sb, x_st, x_sd, keep_sb, keep_st, m_sb, m_sn, m_sd, out_sb, out_st, out_sn,
    HAS_BIAS: tl.constexpr, DOT: tl.constexpr, PRECISION: tl.constexpr,
    BLOCK_T: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
):  # fmt: skip
    """``out[b, t, :] = keep[b, t] * x[b, t, :] @ m[b]^T (+ bias)``, one ``[BLOCK_T, BLOCK_N]``
    tile per program, looping over ``dim``."""
    b = tl.program_id(2).to(tl.int64)
    t = tl.program_id(0) * BLOCK_T + tl.arange(0, BLOCK_T)
    cols = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    keep = tl.load(keep_ptr + b * keep_sb + t * keep_st, mask=t < frames, other=0) != 0
    acc = tl.zeros((BLOCK_T, BLOCK_N), dtype=tl.float32)
    for d0 in range(0, dim, BLOCK_D):
        d = d0 + tl.arange(0, BLOCK_D)
        xs = tl.load(
            x_ptr + b * x_sb + t[:, None] * x_st + d[None, :] * x_sd,
            mask=keep[:, None] & (d[None, :] < dim),
            other=0.0,
        )
        ms = tl.load(
            m_ptr + b * m_sb + cols[:, None] * m_sn + d[None, :] * m_sd,
            mask=(cols[:, None] < n) & (d[None, :] < dim),
            other=0.0,
        )
        acc = tl.dot(xs.to(DOT), tl.trans(ms.to(DOT)), acc, input_precision=PRECISION)
    if HAS_BIAS:
        acc += tl.load(bias_ptr + cols, mask=cols < n, other=0.0).to(tl.float32)[None, :]
    tl.store(
        out_ptr + b * out_sb + t[:, None] * out_st + cols[None, :] * out_sn,
        acc.to(out_ptr.dtype.element_ty),
        mask=(t[:, None] < frames) & (cols[None, :] < n),
    )


@triton.jit
def _weigh_kernel(
    a_ptr, x_ptr, keep_ptr, c_ptr, out_ptr,
    batch, per_program, frames, dim, n,
    a_sb, a_st, a_sn, x_sb, x_st, x_sd, keep_sb, keep_st, c_sn, c_sd, out_sb, out_sn, out_sd,
    HAS_CENTROIDS: tl.constexpr, DOT: tl.constexpr, PRECISION: tl.constexpr,
    BLOCK_T: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
):  # fmt: skip
    """``out[g] = sum over batches b of group g of a[b]^T (keep[b] * x[b])``, minus
    ``sum_t a[b, t, k] * c[k]`` with centroids, one ``[BLOCK_N, BLOCK_D]`` tile per program."""
    group = tl.program_id(2).to(tl.int64)
    d = tl.program_id(0) * BLOCK_D + tl.arange(0, BLOCK_D)
    cols = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    acc = tl.zeros((BLOCK_N, BLOCK_D), dtype=tl.float32)
    mass = tl.zeros((BLOCK_N,), dtype=tl.float32)
    first = group * per_program
    for b in range(first, tl.minimum(first + per_program, batch)):
        for t0 in range(0, frames, BLOCK_T):
            t = t0 + tl.arange(0, BLOCK_T)
            keep = tl.load(keep_ptr + b * keep_sb + t * keep_st, mask=t < frames, other=0) != 0
            a = tl.load(
                a_ptr + b * a_sb + t[:, None] * a_st + cols[None, :] * a_sn,
                mask=keep[:, None] & (cols[None, :] < n),
                other=0.0,
            )
            xs = tl.load(
                x_ptr + b * x_sb + t[:, None] * x_st + d[None, :] * x_sd,
                mask=keep[:, None] & (d[None, :] < dim),
                other=0.0,
            )
            acc = tl.dot(tl.trans(a.to(DOT)), xs.to(DOT), acc, input_precision=PRECISION)
            if HAS_CENTROIDS:
                mass += tl.sum(a.to(tl.float32), axis=0)
    inside = (cols[:, None] < n) & (d[None, :] < dim)
    if HAS_CENTROIDS:
        c = tl.load(c_ptr + cols[:, None] * c_sn + d[None, :] * c_sd, mask=inside, other=0.0)
        acc -= mass[:, None] * c.to(tl.float32)
    tl.store(
        out_ptr + group * out_sb + cols[:, None] * out_sn + d[None, :] * out_sd,
        acc.to(out_ptr.dtype.element_ty),
        mask=inside,
    )


def interpreting() -> bool:
    """Whether Triton runs kernels in its interpreter (``TRITON_INTERPRET=1``)."""
    return bool(triton.knobs.runtime.interpret)


def _block_n(n: int) -> int:
    """A power of two >= 16 (``tl.dot``'s least tile), so small cluster counts take one tile."""
    return min(64, max(16, triton.next_power_of_2(n)))


def _dot_dtype(x: Tensor) -> tl.dtype:
    """The products' operand type: the frames' own, except in the interpreter, whose ``tl.dot``
    mishandles bfloat16; widening to float32 there is exact (accumulation is float32 anyway)."""
    if interpreting() or x.dtype == torch.float32:
        return tl.float32
    return {torch.bfloat16: tl.bfloat16, torch.float16: tl.float16}[x.dtype]


def _precision(x: Tensor) -> str:
    """float32 products follow torch's TF32 switch for matmuls; others need no choice."""
    allow = x.dtype == torch.float32 and torch.backends.cuda.matmul.allow_tf32
    return "tf32" if allow else "ieee"


class TritonFrames(DenseFrames):
    """The same products as :class:`DenseFrames` on frames whose padding may hold anything."""

    def __init__(self, x: Tensor, mask: Tensor):
        super().__init__(x, mask)
        self.keep = mask.view(torch.uint8)  # bool as bytes, no copy

    def _times(self, m: Tensor, bias: Tensor | None, m_batch_stride: int) -> Tensor:
        x = self.x
        batch, frames, dim = x.shape
        n = m.shape[-2]
        out = torch.empty(batch, frames, n, device=x.device, dtype=x.dtype)
        block_t, block_n = 16, _block_n(n)
        grid = (triton.cdiv(frames, block_t), triton.cdiv(n, block_n), batch)
        _times_kernel[grid](
            x, self.keep, m, m if bias is None else bias, out,
            frames, dim, n,
            *x.stride(), *self.keep.stride(), m_batch_stride, *m.stride()[-2:], *out.stride(),
            HAS_BIAS=bias is not None, DOT=_dot_dtype(x), PRECISION=_precision(x),
            BLOCK_T=block_t, BLOCK_N=block_n, BLOCK_D=64,
        )  # fmt: skip
        return out

    def logits(self, weight: Tensor, bias: Tensor) -> Tensor:
        return self._times(weight, bias, 0)

    def probs(self, weight: Tensor, bias: Tensor) -> Tensor:
        return torch.softmax(self.logits(weight, bias), dim=-1)

    def times(self, m: Tensor) -> Tensor:
        return self._times(m, None, m.stride(0))

    def _weigh(
        self, a: Tensor, centroids: Tensor | None, per_program: int, dtype: torch.dtype
    ) -> Tensor:
        x = self.x
        batch, frames, dim = x.shape
        n = a.shape[-1]
        block_n, block_d = _block_n(n), WEIGH_BLOCK_D
        groups = triton.cdiv(batch, per_program)
        out = torch.empty(groups, n, dim, device=x.device, dtype=dtype)
        c = a if centroids is None else centroids
        grid = (triton.cdiv(dim, block_d), triton.cdiv(n, block_n), groups)
        _weigh_kernel[grid](
            a, x, self.keep, c, out,
            batch, per_program, frames, dim, n,
            *a.stride(), *x.stride(), *self.keep.stride(), *c.stride()[-2:], *out.stride(),
            HAS_CENTROIDS=centroids is not None, DOT=_dot_dtype(x), PRECISION=_precision(x),
            BLOCK_T=32, BLOCK_N=block_n, BLOCK_D=block_d,
        )  # fmt: skip
        return out

    def weigh(self, a: Tensor, centroids: Tensor | None = None) -> Tensor:
        return self._weigh(a, centroids, 1, self.x.dtype)

    def weigh_all(self, a: Tensor) -> Tensor:
        """The batch is split into groups that each write a float32 partial sum."""
        batch, _, dim = self.x.shape
        n = a.shape[-1]
        tiles = triton.cdiv(dim, WEIGH_BLOCK_D) * triton.cdiv(n, _block_n(n))
        groups = max(1, min(batch, TARGET_PROGRAMS // tiles))
        partials = self._weigh(a, None, triton.cdiv(batch, groups), torch.float32)
        return partials.sum(0).to(self.x.dtype)
