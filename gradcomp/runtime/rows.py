"""Row gradients outside the kernels: coalescing per-lookup rows into distinct rows.

A kernel compiled with ``rows="lookups"`` returns one gradient row per lookup. Lazy Adam
moves each touched row once, so it needs the distinct rows and their sums first; this is the
same hash-table pass the coalescing kernels run (``row_slots``), then one scatter.
"""

from __future__ import annotations

import numba
import numpy as np

from .blas import JIT
from .helpers import row_slots, scatter_rows


@numba.njit(**JIT)
def coalesce_rows(index, values):
    """The distinct rows of ``index`` (in order of first lookup) and, for each, the sum of
    the ``values`` rows of its lookups (``values`` is 2-D, a row per lookup)."""
    slot, distinct = row_slots(index)
    summed = np.zeros((distinct.shape[0], values.shape[1]), values.dtype)
    scatter_rows(summed, slot, values)
    return distinct, summed
