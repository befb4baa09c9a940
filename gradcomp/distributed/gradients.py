"""The loss and all gradients of a compiled loss over data sharded across Dask workers.

Each shard's result is computed where its data lives, then the results are added up in a fixed
binary tree of Dask tasks (neighbours first, in shard order), so repeated runs agree bit for bit
whatever the scheduling; row gradients are merged as rows (indices united, values summed).
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass

from ..autodiff.reverse import resolve_wrt
from ..errors import GradcompError
from ..ir import Node, to_payload
from ..runtime.compiled import CompiledGradient
from .reduce import combine, scaled, tree
from .worker import shard_gradient


@dataclass(frozen=True)
class KernelSpec:
    """What a worker builds a kernel from: the graph as plain data, never a dispatcher."""

    graph: tuple
    wrt: tuple[str, ...]
    rows: bool
    mean: bool  # the loss is a mean over the batch: shards are weighted by their size
    key: str

    @classmethod
    def of(cls, fn: CompiledGradient | Node, mean: bool = True) -> "KernelSpec":
        loss, wrt = (fn.loss, [w.name for w in fn.wrt]) if isinstance(fn, CompiledGradient) \
            else (fn, None)
        if wrt is None:
            wrt = [w.name for w in resolve_wrt(loss, None)]
        rows = not isinstance(fn, CompiledGradient) or bool(fn.rows)
        graph = to_payload([loss])
        digest = hashlib.sha256(pickle.dumps((graph, wrt, rows, mean))).hexdigest()[:16]
        return cls(graph, tuple(wrt), rows, mean, digest)


def sharded_value_and_grad(client, fn, params: dict, shards: list, mean: bool = True):
    """``(value, grads)`` of ``fn`` (a compiled loss, or a loss expression) over ``shards``.

    ``params`` (the inputs every shard shares) are sent to the workers once; ``shards`` are
    dicts of the per-example inputs (arrays, or Dask futures of such dicts, already on the
    workers). With ``mean=True`` the loss is taken to be a mean over the batch, and the result
    is the mean over all shards' examples together; with ``mean=False``, a sum.
    """
    if not shards:
        raise GradcompError("sharded_value_and_grad needs at least one shard")
    spec = KernelSpec.of(fn, mean)
    # One future for the dict, under a new key: a dict's own keys, or a hash of its content,
    # would name the data of an earlier call that Dask may be releasing.
    shared = client.scatter([params], broadcast=True, hash=False)[0]
    parts = [client.submit(shard_gradient, spec, shared, shard, pure=False) for shard in shards]
    return finish(client, spec, parts)


def finish(client, spec: KernelSpec, parts: list) -> tuple[float, dict]:
    """Reduce the per-shard futures on the workers and bring the total home."""
    total = tree(parts, lambda a, b: client.submit(combine, a, b, pure=False))
    count, value, grads = total.result()
    return scaled((count, value, grads), 1.0 / count if spec.mean else 1)[1:]
