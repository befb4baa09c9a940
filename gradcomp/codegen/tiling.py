"""Row tiling: run the per-row part of a kernel over tiles of the batch, so it stays in cache.

A loss over a batch (the window classifier's mean over B windows) is mostly per-row work:
every row's lookups, hidden layer, scores and their adjoints depend on that row alone and on
the parameters. Only a few steps combine rows, and all of them are sums over the batch: the
loss itself, the weight gradients (``dz.T @ x``), the bias gradients, the rows scattered into
a table's gradient. Such a graph can run the per-row steps on ``TILE_ROWS`` rows at a time,
adding each tile's share into the sums, instead of materialising every (B, ...) intermediate:
at B = 4096 those are megabytes each and spill out of the core's cache between steps.

``plan_tiling`` classifies every scheduled node for one named dim ``D``:

* ``pre``: depends on no row (parameters, constants, 1/B): computed once, before the tiles;
* ``row``: row-local in ``D`` (its rows depend only on the same rows of its arguments):
  computed per tile on the tile's rows;
* ``sum``: a sum over ``D`` of row nodes (a SUM over axis 0, a product contracting ``D``, a
  dense scatter of rows): zeroed before the tiles, accumulated by each;
* ``post``: depends on a sum (the loss = total / B): computed once, after the tiles.

Anything else (a max over ``D``, a row step that reads a sum, a transpose that moves ``D``)
means the graph is not tiled, and the kernel is written as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ..ir import Node, Op

# Measured on the window classifier at B = 4096 against 256 and 1024 rows (and no tiling): the
# per-row arrays of 512 rows (at most 0.5 MiB in float32) stay in a core's cache while the
# products stay large enough for BLAS. float64: 11.4 ms against 19.9 ms untiled; float32:
# 5.4 ms against 5.7 ms.
TILE_ROWS = 512

PRE, ROW, SUM, POST = "pre", "row", "sum", "post"


@dataclass(frozen=True)
class Tiling:
    dim: str  # the named dim whose rows are tiled
    kind: Mapping[int, str]  # node id -> PRE | ROW | SUM | POST
    row_inputs: tuple[Node, ...]  # inputs sliced per tile


def plan_tiling(schedule, roots: list[Node], row_indices: list[Node]) -> Tiling | None:
    """A tiling of the scheduled graph, or None if no named dim can be tiled.

    ``roots`` are the loss and the outputs (none may be a row node); ``row_indices`` are the
    index arrays of row-gradient scatters, which must be row inputs (their slots are found
    once for the whole batch).
    """
    candidates = []
    for node in schedule.order:
        if node.op is Op.INPUT and node.ndim and isinstance(node.shape[0], str) \
                and "*" not in node.shape[0]:  # a product of dims is not a batch of rows
            if node.shape[0] not in candidates:
                candidates.append(node.shape[0])
    for dim in candidates:
        kind = _classify(schedule, dim)
        if kind is None:
            continue
        if any(kind[id(n)] == ROW for n in roots):
            continue
        if not all(n.op is Op.INPUT and kind[id(n)] == ROW for n in row_indices):
            continue
        if not any(k == SUM for k in kind.values()) and not row_indices:
            continue
        row_inputs = [n for n in schedule.order if n.op is Op.INPUT and kind[id(n)] == ROW]
        return Tiling(dim, MappingProxyType(kind), tuple(row_inputs))
    return None


def _classify(schedule, dim: str) -> dict[int, str] | None:
    kind: dict[int, str] = {}
    for node in schedule.order:
        found = _kind(node, dim, kind, schedule)
        if found is None:
            return None
        kind[id(node)] = found
    return kind


def _kind(node: Node, dim: str, kind: dict[int, str], schedule) -> str | None:
    leading = node.ndim > 0 and node.shape[0] == dim
    elsewhere = dim in node.shape[1:]
    if node.op is Op.INPUT:
        if elsewhere:
            return None
        return ROW if leading else PRE
    if node.op in (Op.CONST, Op.SIZE):
        return PRE
    args = [kind[id(a)] for a in node.args]
    if id(node) in schedule.folded and args == [ROW]:
        return ROW  # x.T read by the product that sums over the rows (see _sums_rows)
    if all(k == PRE for k in args):
        if elsewhere:
            return None
        if leading:  # e.g. 1/B broadcast to every row: cheap to make per tile
            return ROW if node.op in (Op.BROADCAST, Op.MAP) else None
        return PRE
    if ROW not in args:  # reads a sum (and no row): after the tiles
        return None if (leading or elsewhere) else POST
    if SUM in args or POST in args:
        return None  # a row step that reads a sum over all rows
    if elsewhere:
        return None
    if leading:
        return ROW if _row_local(node, args) else None
    return SUM if _sums_rows(node, args, schedule) else None


def _row_local(node: Node, args: list[str]) -> bool:
    """Whether each row of ``node`` depends only on the same row of its row arguments."""
    op = node.op
    row_args = [a for a, k in zip(node.args, args) if k == ROW]
    pre_args = [a for a, k in zip(node.args, args) if k == PRE]
    if any(a.ndim == 0 or a.shape[0] != node.shape[0] for a in row_args):
        return False
    if op in (Op.MAP, Op.BROADCAST, Op.STOP_GRADIENT):
        # parameters broadcast along the rows (a bias, a (1, n) row): no row axis of their own
        return all(a.ndim < node.ndim or a.shape[0] == 1 for a in pre_args)
    if op is Op.MATMUL:
        return args == [ROW, PRE] and node.args[0].ndim == 2
    if op is Op.TAKE:
        return args == [PRE, ROW]
    if op in (Op.PICK, Op.UNPICK):
        return args == [ROW, ROW]
    if op is Op.RESHAPE:
        return True  # leading dim kept (checked above) and rows are contiguous
    if op in (Op.SUM, Op.MAX):
        return 0 not in node.attr("axes")
    if op is Op.TRANSPOSE:
        return node.attr("perm")[0] == 0
    if op in (Op.CONCAT, Op.SLICE):
        return node.attr("axis") != 0 and not pre_args
    return False


def _sums_rows(node: Node, args: list[str], schedule) -> bool:
    """Whether ``node`` adds up its row arguments over the rows (so tiles can accumulate)."""
    if node.op is Op.SUM:
        return 0 in node.attr("axes")
    if node.op is Op.MATMUL:  # x.T @ y over the rows: a folded transpose of a row node
        first = node.args[0]
        return (id(first) in schedule.folded and first.args[0].ndim == 2
                and args[1] == ROW and node.args[1].ndim in (1, 2))
    if node.op is Op.SCATTER_ADD:
        return args == [ROW, ROW]
    return False
