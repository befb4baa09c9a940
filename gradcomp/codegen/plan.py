"""The kernel's plan: every decision about one kernel, made before a line of it is printed.

``make_plan`` takes the loss, the ``wrt`` inputs, their gradient graphs and the adjoint map
from ``autodiff`` (which node is the gradient of which), and decides: the step order and what
is fused into a user's loop or folded into a product (``schedule.py``); the row tiling
(``tiling.py``); the runs of elementwise steps written as one loop (``regions.py``); which
gradients are written into the caller's buffers and which are copied there; the row blocks of
row gradients; the name of every variable (``names.py``); and the results the
kernel returns, each a typed ``Result`` the runtime decodes by kind. The plan is frozen; the
printer (``emit.py`` and the modules it calls) only reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ..ir import Node, Op, is_product, node_ids
from .names import NameWalk, fused_parts
from .naming import display_names
from .pieces import plan_cuts
from .regions import Region, plan_regions, step_reads
from .schedule import Schedule, make_schedule
from .tiling import POST, PRE, ROW, SUM, Tiling, plan_tiling

# A tile's forward and backward become functions of their own when each has this many nodes
# (the window classifier: 14 and 17), so that two processes compile them at once.
PART_NODES = 8


@dataclass(frozen=True)
class Result:
    """One thing a kernel gives back: the loss ``value``; per ``wrt`` input a ``scalar``
    gradient, a ``buffer`` gradient (written into the caller's array, nothing returned) or
    ``rows`` (the returned index and values). ``positions``: where in the returned tuple (a
    buffer: which of the buffer parameters)."""
    kind: str
    input: str  # the wrt input's name ("" for the value)
    positions: tuple[int, ...]


@dataclass(frozen=True)
class TileNames:
    """The variables of the tile loop: its rows ``start:stop``, the tile's row count, each row
    input's slice; staged, the ``first`` and ``last`` rows of the range a call runs."""
    start: str
    stop: str
    rows: str
    sliced: Mapping[int, str]
    first: str = ""
    last: str = ""


@dataclass(frozen=True)
class RowBlock:
    """A table's gradient as rows: the variables of its rows and the scatters they sum."""
    table: Node
    slot: str | None  # each lookup's slot among the distinct rows (None: a row per lookup)
    index: str  # the distinct rows (or each lookup's row)
    rows: str  # their gradients
    terms: tuple[Node, ...]  # the scatters whose sum the gradient is


@dataclass(frozen=True)
class Stages:
    """A staged kernel's three functions (``stages.py``) and what they pass on."""
    prepare: str  # function names in the module
    rows: str
    finish: str
    serve: str  # one half of a split call, on the arguments posted for it (runtime/halves.py)
    split: str  # a whole call, its rows in two halves, one on each core
    carried: tuple[str, ...]  # what prepare returns, passed on to rows and finish
    private: tuple[str, ...]  # sums each half of a split call needs its own copy of (added)
    arguments: tuple[str, ...]  # the kernel's parameters (inputs, then buffers)
    scalars: tuple[str, ...]  # the scalar sums rows returns, passed on to finish


@dataclass(frozen=True)
class Plan:
    function: str
    schedule: Schedule
    ids: Mapping[int, int]  # node id -> its number in the schedule (the graph's hash)
    adjoint_of: Mapping[int, Node]  # adjoint id -> its primal
    flows: Mapping[int, tuple[Node, Node]]  # contribution id -> (user, argument)
    params: tuple[Node, ...]  # the inputs, in parameter order
    steps: tuple  # the nodes with a step of their own; untiled, runs grouped into Regions
    tiling: Tiling | None
    staged: bool  # a tiled kernel printed as three functions (stages.py)
    names: Mapping[int, str]  # node id -> its variable
    temps: Mapping[int, str]  # steps computed into a temporary, then copied into a buffer
    dims: Mapping[str, str]  # named dim -> its variable
    dim_bindings: tuple[tuple[str, str, int], ...]  # (dim variable, array, axis) read from
    buffers: Mapping[int, str]  # gradient node id -> the caller's buffer it is written into
    buffer_params: tuple[tuple[str, tuple], ...]  # (parameter, shape) of each buffer
    buffer_inputs: tuple[Node, ...]  # the input each buffer is the gradient of
    copies: tuple[tuple[str, Node], ...]  # buffers filled by copying a value computed elsewhere
    overlap: tuple[str, str] | None  # the starts and sizes variables of the overlap check
    row_blocks: tuple[RowBlock, ...]
    region_scalars: Mapping[int, str]  # a region's stored steps: the scalar in its loop
    region_loads: Mapping[int, tuple]  # region id -> (node, scalar) read once per element
    saved: Mapping[int, tuple[str, str, int]]  # kept for later regions: (block, row, column)
    saved_blocks: Mapping[int, tuple[str, str, int]]  # region id -> (block, row, columns)
    tile: TileNames | None
    scalar_copies: tuple[tuple[str, Node], ...]  # scalar results given a variable of their own
    returns: tuple  # what the kernel returns: Node (its var) or str (a variable)
    results: tuple[Result, ...]
    stages: Stages | None
    tiled: tuple[int, int] | None  # (parameter, axis) holding the tiled dim
    pieces: tuple[tuple[int, int], ...]  # untiled: the ranges of steps in each piece (pieces.py)
    # tiled, not staged, with enough steps each side: the functions computing a tile's
    # forward and its backward (stages.py), which two processes compile at once
    tile_parts: tuple[str, str] | None = None

    def holders(self) -> list[tuple[str, tuple]]:
        """(variable, shape) of every array parameter: the inputs, then the buffers."""
        return [(self.names[id(n)], n.shape) for n in self.params] + list(self.buffer_params)


def make_plan(loss: Node, wrt: list[Node], grads: list[Node], rows=frozenset(),
              function: str = "loss_and_grads", fuse: bool = True, unused=(), adjoints=None,
              lookups=frozenset(), staged: bool = False) -> Plan:
    """The plan of ``function(*inputs) -> (loss, *grads)``; see ``emit.emit_kernel``."""
    row_terms = {w.name: scatter_terms(adjoints.terms[id(w)]) for w in wrt if w.name in rows}
    outputs: list[Node] = []
    for w, g in zip(wrt, grads):
        if w.name in row_terms:
            outputs.extend(n for t in row_terms[w.name] for n in t.args)
        else:
            outputs.append(g)
    schedule = make_schedule(loss, outputs, fuse, unused)
    adjoint_of, flows = (adjoints.adjoint_of, adjoints.flows) if adjoints else ({}, {})
    display = display_names(schedule.order, schedule.forward, adjoint_of, flows)
    walk = NameWalk(schedule, display, adjoint_of, flows)
    ids = node_ids(schedule.order)
    params = tuple(n for n in schedule.order if n.op is Op.INPUT)

    def computes(node):  # whether the kernel has a step of its own for ``node``
        return node.op not in (Op.INPUT, Op.CONST, Op.SIZE) and id(node) in ids

    if computes(loss):
        walk.name(loss, "loss")
    buffers: dict[int, str] = {}
    buffer_list: list[tuple[Node, str]] = []
    copies: list[tuple[str, Node]] = []
    for w, g in zip(wrt, grads):
        if w.name in row_terms:
            continue
        wanted = f"d_{w.name}"
        computed = computes(g) and not schedule.is_forward(g)
        if g.ndim == 0:
            if computed:
                walk.name(g, wanted)
            continue
        buffer = walk.fresh(wanted)
        buffer_list.append((w, buffer))
        if computed and id(g) not in buffers:
            buffers[id(g)] = buffer
            walk.names[id(g)] = buffer
        else:
            copies.append((buffer, g))
    buffer_params = tuple((name, w.shape) for w, name in buffer_list)
    row_tables = [(w, row_terms[w.name]) for w in wrt if w.name in row_terms]
    tiling = None
    if fuse:
        dense = [g for w, g in zip(wrt, grads) if w.name not in row_terms]
        tiling = plan_tiling(schedule, [loss] + dense,
                             [t.args[1] for _, terms in row_tables for t in terms])
    holders = [(walk.names[id(n)], n.shape) for n in params] + list(buffer_params)
    dims, bindings = _bind_dims(walk, holders)
    overlap = (walk.fresh("starts"), walk.fresh("sizes")) if buffer_params else None
    skipped = schedule.fused | schedule.folded | schedule.aliases  # read inside their users
    steps = [n for n in schedule.order if n.op not in (Op.INPUT, Op.CONST, Op.SIZE)
             and id(n) not in skipped]
    tile = stages = tile_parts = None
    pieces = ()
    row_blocks: list[RowBlock] = []
    if tiling is None:
        items, pieces = [], []
        cuts = plan_cuts(steps, lambda n: step_reads(n, schedule), schedule.roots,
                         lambda n: len(fused_parts(schedule, n)))
        for start, stop in cuts:
            segment = plan_regions(steps[start:stop], schedule)
            pieces.append((len(items), len(items) + len(segment)))
            items += segment
        steps = items
        walk.steps(steps, buffers, _outside(schedule, buffers, steps))
        walk.copies(copies)
        row_blocks = [_row_block(walk, w, terms, lookups) for w, terms in row_tables]
    else:
        kind = tiling.kind
        outside = _outside(schedule, buffers)
        walk.steps([n for n in steps if kind[id(n)] == PRE], buffers, outside)
        sums = [n for n in steps if kind[id(n)] == SUM]
        scalars = [walk.name(n) for n in sums if n.ndim == 0]
        for node in sums:
            walk.name(node)
        row_blocks = [_row_block(walk, w, terms, lookups) for w, terms in row_tables]
        first, last = (walk.fresh("first"), walk.fresh("last")) if staged else ("", "")
        start, stop, tile_rows, sliced = walk.tile(tiling)
        tile = TileNames(start, stop, tile_rows, MappingProxyType(sliced), first, last)
        walk.steps([n for n in steps if kind[id(n)] in (ROW, SUM)], buffers, outside,
                   tile.sliced)
        walk.steps([n for n in steps if kind[id(n)] == POST], buffers, outside)
        walk.copies(copies)
        sides = [sum(len(fused_parts(schedule, n)) for n in steps
                     if kind[id(n)] in (ROW, SUM) and schedule.is_forward(n) == forward)
                 for forward in (True, False)]
        if not staged and min(sides) >= PART_NODES:
            tile_parts = (walk.fresh(f"{function}_tile_forward"),
                          walk.fresh(f"{function}_tile_backward"))
        if staged:
            stages = _stages(function, walk.names, steps, kind, buffers, row_blocks, scalars,
                             [walk.names[id(p)] for p in params] + [b for _, b in buffer_list])
    returns, results = _results(loss, wrt, grads, row_terms, row_blocks, walk)
    tiled = tiling and next(
        (k, axis) for k, (_, shape) in enumerate(holders)
        for axis, d in enumerate(shape) if d == tiling.dim)
    frozen = MappingProxyType
    return Plan(
        function, schedule, frozen(ids), frozen(dict(adjoint_of)), frozen(dict(flows)), params,
        tuple(steps), tiling, staged and tiling is not None, frozen(dict(walk.names)),
        frozen(walk.temps), frozen(dims), bindings, frozen(buffers), buffer_params,
        tuple(w for w, _ in buffer_list), tuple(copies), overlap, tuple(row_blocks),
        frozen(walk.region_scalars), frozen(walk.region_loads), frozen(walk.saved),
        frozen(walk.saved_blocks), tile, tuple(walk.scalar_copies), returns, results, stages,
        tiled or None, tuple(pieces), tile_parts)


def scatter_terms(contributions) -> list[Node] | None:
    """The scatter_adds whose sum is a table's gradient, from the contributions autodiff
    added into it (``Gradients.terms``), or None if any of them is something else."""
    if contributions and all(c.op is Op.SCATTER_ADD and c.args[1].ndim >= 1
                             for c in contributions):
        return list(contributions)
    return None


def _row_block(walk: NameWalk, table: Node, terms: list[Node], lookups) -> RowBlock:
    per_lookup = table.name in lookups
    return RowBlock(table, *walk.row_block(table, terms, per_lookup), tuple(terms))


def _bind_dims(walk: NameWalk, holders) -> tuple[dict, tuple]:
    """The variable of each named dim, and the (variable, array, axis) it is read from."""
    dims: dict[str, str] = {}
    bindings = []
    for var, shape in holders:  # single names first: products ("B*T") are checked at entry
        for axis, d in enumerate(shape):
            if isinstance(d, str) and not is_product(d) and d not in dims:
                dims[d] = walk.fresh(d)
                bindings.append((dims[d], var, axis))
    return dims, tuple(bindings)


def _outside(schedule: Schedule, buffers: Mapping[int, str], items=()):
    """Which steps of a region are read outside it (and so stored as arrays), and which of
    those only other regions' loops read (kept in the region's saved block, steps.py)."""
    in_regions = {id(m) for item in items if isinstance(item, Region) for m in item.members}

    def consumers(node: Node) -> list[Node]:  # through the fused expressions that inline it
        found, stack = [], list(schedule.users[id(node)])
        while stack:
            user = stack.pop()
            if id(user) in schedule.fused or id(user) in schedule.aliases:
                stack.extend(schedule.users[id(user)])
            else:
                found.append(user)
        return found

    def stored(node: Node, region) -> bool:
        return (id(node) in schedule.roots or id(node) in buffers
                or any(id(c) not in region.ids for c in consumers(node)))

    def kept(node: Node) -> bool:
        return id(node) not in schedule.roots and id(node) not in buffers and all(
            id(c) in in_regions for c in consumers(node))
    return stored, kept


def _stages(function, names, steps, kind, buffers, row_blocks, scalars, arguments) -> Stages:
    """What the three functions of a staged kernel pass on: ``prepare`` returns what depends
    on no row and the zeroed sums (``carried``); each half of a split call gets its own copy
    of the array sums and distinct-row gradients (``private``), added after."""
    own = set(buffers.values())
    carried = [names[id(n)] for n in steps if kind[id(n)] == PRE and names[id(n)] not in own]
    array_sums = [names[id(n)] for n in steps if kind[id(n)] == SUM and n.ndim]
    carried += [n for n in array_sums if n not in own]
    private = list(array_sums)
    for block in row_blocks:
        carried += [v for v in (block.slot, block.index, block.rows) if v is not None]
        if block.slot is not None:  # distinct rows: each half adds into rows of its own
            private.append(block.rows)
    return Stages(*(f"{function}_{stage}" for stage in ("prepare", "rows", "finish", "serve",
                                                          "split")),
                  tuple(carried), tuple(private), tuple(arguments), tuple(scalars))


def _results(loss, wrt, grads, row_terms, row_blocks, walk: NameWalk):
    """What the kernel returns (the loss's value first) and the typed record of each."""
    returns: list = [loss]
    results = [Result("value", "", (0,))]
    buffers = 0
    blocks = {b.table.name: b for b in row_blocks}
    for w, g in zip(wrt, grads):
        if w.name in row_terms:
            block = blocks[w.name]
            results.append(Result("rows", w.name, (len(returns), len(returns) + 1)))
            returns += [block.index, block.rows]
        elif g.ndim == 0:
            results.append(Result("scalar", w.name, (len(returns),)))
            returns.append(walk.scalar_result(g, f"d_{w.name}"))
        else:
            results.append(Result("buffer", w.name, (buffers,)))
            buffers += 1
    return tuple(returns), tuple(results)

