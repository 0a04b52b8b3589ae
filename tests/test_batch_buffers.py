"""The streamed reader's batch arrays: reused, never while anything still refers to them."""

from __future__ import annotations

import numpy as np
import torch

from atr_bench.data.batch_buffers import BatchBuffers


def test_an_array_is_lent_again_only_once_nothing_refers_to_it():
    pool = BatchBuffers(keep=2)
    first = pool.take((4, 3, 2))
    base = first.base
    batch = torch.from_numpy(first)[1:]  # a view of the batch tensor, as a model takes
    del first
    second = pool.take((4, 3, 2))
    assert not np.shares_memory(second, base)  # the batch is still in use
    del batch
    third = pool.take((3, 3, 2))
    assert third.shape == (3, 3, 2) and np.shares_memory(third, base)


def test_the_pool_owns_at_most_keep_arrays():
    pool = BatchBuffers(keep=1)
    lent = pool.take((2, 3, 2))
    base = lent.base
    extra = pool.take((2, 3, 2))
    assert extra.base is None and not np.shares_memory(extra, base)  # a plain array
    del extra
    assert not np.shares_memory(pool.take((2, 3, 2)), base)
    del lent
    assert np.shares_memory(pool.take((2, 3, 2)), base)


def test_a_larger_batch_replaces_a_free_array_too_small_for_it():
    pool = BatchBuffers(keep=1)
    small = pool.take((2, 3, 2))
    del small
    large = pool.take((5, 3, 2))
    assert large.shape == (5, 3, 2) and large.base is not None  # pooled, not a plain array
    base = large.base
    del large
    assert np.shares_memory(pool.take((4, 3, 2)), base)
