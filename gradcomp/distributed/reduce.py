"""Adding up per-shard results: ``(count, value, grads)`` triples, row gradients merged.

Every function here is pure and deterministic: the same inputs in the same order give the same
bits, so a fixed reduction tree gives the same result however the tasks were scheduled.
"""

from __future__ import annotations

import numpy as np

from ..runtime.compiled import RowGradient


def scaled(result: tuple, factor: float) -> tuple:
    count, value, grads = result
    if factor == 1:
        return result
    return count, value * factor, {name: _scale(g, factor) for name, g in grads.items()}


def _scale(g, factor):
    if isinstance(g, RowGradient):
        return RowGradient(g.indices, g.values * g.values.dtype.type(factor), g.num_rows)
    if isinstance(g, float):
        return g * factor
    return g * g.dtype.type(factor)


def combine(a: tuple, b: tuple) -> tuple:
    """The sum of two results: counts, values and gradients added; rows united."""
    count_a, value_a, grads_a = a
    count_b, value_b, grads_b = b
    return count_a + count_b, value_a + value_b, {
        name: merge(grads_a[name], grads_b[name]) for name in grads_a}


def merge(a, b):
    if isinstance(a, RowGradient):
        indices, slot = np.unique(np.concatenate([a.indices, b.indices]), return_inverse=True)
        values = np.zeros((len(indices),) + a.values.shape[1:], a.values.dtype)
        # Each side's rows are distinct, so plain fancy-index adds are exact (and, unlike
        # np.add.at, vectorised): a's rows first, then b's.
        values[slot[:len(a.indices)]] += a.values
        values[slot[len(a.indices):]] += b.values
        return RowGradient(indices, values, a.num_rows)
    return a + b


def tree(items: list, pair) -> object:
    """Reduce ``items`` pairwise, level by level, in their order: ``pair(a, b)`` for
    neighbours; the shape of the tree depends only on ``len(items)``."""
    level = list(items)
    while len(level) > 1:
        level = [pair(level[k], level[k + 1]) if k + 1 < len(level) else level[k]
                 for k in range(0, len(level), 2)]
    return level[0]
