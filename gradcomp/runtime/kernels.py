"""Small Numba helpers that generated kernels call for indexed ops.

They work on flattened views (rows of a 2-D table, a 1-D index), so one helper serves every
rank. Indices were range-checked by the caller's ``Signature`` before any kernel runs.
"""

from __future__ import annotations

import numba
import numpy as np

_JIT = dict(cache=True, nogil=True)


@numba.njit(**_JIT)
def gather_rows(table, index):
    """``table[index]`` for a 2-D table and a 1-D index (the embedding lookup)."""
    out = np.empty((index.shape[0], table.shape[1]), table.dtype)
    for k in range(index.shape[0]):
        row = index[k]
        for j in range(table.shape[1]):
            out[k, j] = table[row, j]
    return out


@numba.njit(**_JIT)
def scatter_rows(out, slot, values):
    """``out[slot[k]] += values[k]`` for every k: rows added into a table."""
    for k in range(slot.shape[0]):
        row = slot[k]
        for j in range(values.shape[1]):
            out[row, j] += values[k, j]


@numba.njit(**_JIT)
def row_slots(index):
    """The sorted distinct rows of ``index`` and, per lookup, its slot among them.

    Sorting the lookups (not a V-sized table) keeps the cost at O(n log n) in the number of
    lookups, whatever the vocabulary size.
    """
    order = np.argsort(index, kind="mergesort")
    slot = np.empty(index.shape[0], np.int64)
    count = 0
    for k in range(order.shape[0]):
        if k == 0 or index[order[k]] != index[order[k - 1]]:
            count += 1
        slot[order[k]] = count - 1
    rows = np.empty(count, np.int64)
    for k in range(index.shape[0]):
        rows[slot[k]] = index[k]
    return slot, rows


@numba.njit(**_JIT)
def pick_columns(x, labels):
    """``x[i, labels[i]]`` for each row i."""
    out = np.empty(x.shape[0], x.dtype)
    for i in range(x.shape[0]):
        out[i] = x[i, labels[i]]
    return out


@numba.njit(**_JIT)
def unpick_columns(g, labels, columns):
    """Zeros of shape (len(g), columns) holding ``g[i]`` at ``[i, labels[i]]``."""
    out = np.zeros((g.shape[0], columns), g.dtype)
    for i in range(g.shape[0]):
        out[i, labels[i]] = g[i]
    return out
