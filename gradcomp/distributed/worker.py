"""What runs on a Dask worker: gradcomp kernels built there from the graph, one per worker
process and graph, and the per-shard gradient task.

A kernel is built from a ``KernelSpec`` (the graph as plain data, the ``wrt`` names): the
worker rebuilds the nodes, compiles them with ``gc.compile`` and keeps the result for every
later task, so each worker builds a given kernel at most once, and Numba loads its machine code
from the worker's kernel cache when it is there (``kernel_stats`` reports both).
"""

from __future__ import annotations

import threading
from collections import Counter

import numpy as np

from ..errors import CompileError, GradcompError
from ..ir import from_payload
from ..runtime.compiled import CompiledGradient, compile
from .reduce import scaled

_KERNELS: dict[str, CompiledGradient] = {}
_BUILDS: Counter = Counter()
_LOCK = threading.Lock()


def kernel(spec) -> CompiledGradient:
    """The compiled kernel of ``spec`` in this process, built on first use."""
    with _LOCK:
        fn = _KERNELS.get(spec.key)
        if fn is None:
            try:
                loss = from_payload(spec.graph)[0]
                fn = compile(loss, wrt=list(spec.wrt), rows=spec.rows, block=True)
            except GradcompError as error:
                raise CompileError(f"worker {_address()}: kernel {spec.key} could not be "
                                   f"built: {error}") from error
            _KERNELS[spec.key] = fn
            _BUILDS[spec.key] += 1
        return fn


def _address() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return "(not a Dask worker)"


def kernel_stats() -> dict[str, dict[str, int]]:
    """Per kernel on this worker: how often it was built, and how many of its Numba
    specialisations were compiled here or loaded from the cache."""
    stats = {}
    for key, fn in _KERNELS.items():
        numba_stats = fn.kernel.stats
        stats[key] = {"builds": _BUILDS[key],
                      "compiled": int(sum(numba_stats.cache_misses.values())),
                      "loaded": int(sum(numba_stats.cache_hits.values()))}
    return stats


def shard_gradient(spec, params: dict, shard: dict, rows=None):
    """``(count, value, grads)`` of one shard (``rows`` selects rows of every shard array),
    as sums: value and gradients multiplied by the shard's batch size for a mean loss."""
    fn = kernel(spec)
    if rows is not None:
        shard = {name: np.ascontiguousarray(array[rows]) for name, array in shard.items()}
    count = len(next(iter(shard.values())))
    value, grads = fn(**params, **shard)  # new arrays every call: no copy needed
    return scaled((count, value, grads), count if spec.mean else 1)
