"""Writes one Numba function computing a loss and its gradients (fused forward + backward).

Contract: ``emit_kernel`` takes the loss, the ``wrt`` inputs and their gradient graphs, and
returns the complete module source plus a description of the function's parameters and
results. Every node gets one assignment (or is fused into its user's loop), preceded by a
comment naming the node as ``gc.dump`` numbers it; the backward half says which chain-rule
step each line is. Named dims are read from the arrays at entry, so the kernel is specialised
per dtype only. Gradients of tables used only through ``take`` can be returned as rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import sympy

from ..sympy_bridge import arg_symbols
from ..version import __version__
from ..ir import FLOAT, Node, Op, describe, format_shape, is_product, node_ids
from .entry import entry_lines
from .tiling import PRE, POST, ROW, SUM, TILE_ROWS, Tiling, plan_tiling
from .naming import HELPERS, HELPERS_VERSION, Namer, display_names
from .printer import print_scalar
from .schedule import Schedule, make_schedule

_A0, _A1 = arg_symbols(2)
_ADD = sympy.Lambda((_A0, _A1), _A0 + _A1)  # the front end's add, as rules accumulate adjoints


@dataclass(frozen=True)
class KernelSource:
    source: str
    function: str  # the kernel's name in the module
    params: list[Node]  # inputs, in parameter order
    buffers: list[Node]  # then one buffer parameter per array gradient: the input it is for
    # per wrt input: ("value", "") first, then ("scalar" | "buffer" | "rows", input name);
    # the kernel returns the value, each scalar gradient and each rows pair (index, values)
    results: list[tuple[str, str]]


def scatter_terms(adjoint: Node) -> list[Node] | None:
    """The scatter_add nodes whose sum is ``adjoint``, or None if it is anything else."""
    terms, stack = [], [adjoint]
    while stack:
        node = stack.pop()
        if node.op is Op.SCATTER_ADD and node.args[1].ndim >= 1:
            terms.append(node)
        elif node.op is Op.MAP and node.attr("fn") == _ADD:
            stack.extend(reversed(node.args))
        else:
            return None
    return terms


def emit_kernel(
    loss: Node,
    wrt: list[Node],
    grads: list[Node],
    rows: set[str] = frozenset(),
    function: str = "loss_and_grads",
    fuse: bool = True,
    unused: list[Node] = (),
    adjoints=None,
    lookups: set[str] = frozenset(),
) -> KernelSource:
    """Source of ``function(*inputs) -> (loss, *grads)``; ``rows`` names row-gradient inputs.

    ``lookups`` (a subset of ``rows``) get one gradient row per lookup, unsummed, in lookup
    order (as PyTorch's sparse embedding gradient); the others one row per distinct row.

    ``unused`` are inputs the caller passes that the graph does not read (a ``wrt`` input the
    loss does not depend on): parameters of the kernel all the same, checked like the others.
    ``adjoints`` (``autodiff.gradients``) says which node is the gradient of which: it names
    the backward steps (``d_h``) and the rule each applies.
    """
    row_terms = {w.name: scatter_terms(g) for w, g in zip(wrt, grads) if w.name in rows}
    outputs: list[Node] = []
    for w, g in zip(wrt, grads):
        if w.name in row_terms:
            outputs.extend(n for t in row_terms[w.name] for n in t.args)
        else:
            outputs.append(g)
    schedule = make_schedule(loss, outputs, fuse, unused)
    adjoint_of, flows = (adjoints.adjoint_of, adjoints.flows) if adjoints else ({}, {})
    display = display_names(schedule.order, schedule.forward, adjoint_of, flows)
    writer = _Writer(schedule, display, adjoint_of, flows, lookups)
    if writer.computes(loss):
        writer.name(loss, "loss")
    buffers: list[tuple[Node, str]] = []  # array gradients go into the caller's buffers
    copies: list[tuple[str, Node]] = []  # ... those not computed by a step of their own
    for w, g in zip(wrt, grads):
        if w.name in row_terms:
            continue
        wanted = f"d_{w.name}"
        computed = writer.computes(g) and not schedule.is_forward(g)
        if g.ndim == 0:
            if computed:
                writer.name(g, wanted)
            continue
        buffer = writer.namer.fresh(wanted)
        buffers.append((w, buffer))
        if computed and id(g) not in writer.buffers:
            writer.buffers[id(g)] = buffer
            writer.names[id(g)] = buffer
        else:
            copies.append((buffer, g))
    writer.buffer_params = [(name, w.shape) for w, name in buffers]
    writer.row_tables = [(w, row_terms[w.name]) for w in wrt if w.name in row_terms]
    if fuse:
        dense = [g for w, g in zip(wrt, grads) if w.name not in row_terms]
        writer.tiling = plan_tiling(schedule, [loss] + dense,
                                    [t.args[1] for _, terms in writer.row_tables for t in terms])
    body = writer.body()
    for buffer, g in copies:
        writer.fill(buffer, g)
    if writer.tiling is None:
        for w, terms in writer.row_tables:
            writer.rows_scatter(writer.rows_setup(w, terms))
    returns = [writer.var(loss)]
    results = [("value", "")]
    for w, g in zip(wrt, grads):
        if w.name in row_terms:
            block = writer.row_blocks[w.name]
            returns += [block.index, block.rows]
            results.append(("rows", w.name))
        elif g.ndim == 0:
            returns.append(writer.scalar_result(g, f"d_{w.name}"))
            results.append(("scalar", w.name))
        else:
            results.append(("buffer", w.name))
    params = [n for n in schedule.order if n.op is Op.INPUT]
    source = _module(writer, function, params, [name for _, name in buffers], body, returns)
    return KernelSource(source, function, params, [w for w, _ in buffers], results)


def _module(writer, function, params, buffers, body, returns) -> str:
    graph_hash = hashlib.sha256("\n".join(
        describe(n, writer.ids) for n in writer.schedule.order).encode()).hexdigest()[:16]
    names = [writer.names[id(p)] for p in params] + buffers
    filled = (f"The caller's arrays {', '.join(buffers)} receive those gradients in place."
              if buffers else "")
    head = [
        f'"""Generated by gradcomp {__version__} (helpers {HELPERS_VERSION}); '
        f'graph {graph_hash}.',
        "",
        f"{function}({', '.join(names)}) -> ({', '.join(returns)})",
        *([filled] if filled else []),
        "Edit the loss, not this file: it is rewritten whenever the graph changes.",
        '"""',
        "",
        "import math  # noqa: F401",
        "",
        "import numba",
        "import numpy as np",
        "",
        "from gradcomp.runtime.helpers import (  # noqa: F401",
        *(f"    {helper}," for helper in HELPERS),
        ")",
        "",
        "",
        '@numba.njit(cache=True, nogil=True, error_model="numpy")',
        f"def {function}({', '.join(names)}):",
    ]
    tail = [f"    return {', '.join(returns)}" + ("," if len(returns) == 1 else ""), ""]
    return "\n".join(head + ["    " + line if line else "" for line in body] + tail)


# Ops whose step can write straight into the caller's gradient buffer (others copy into it).
_IN_PLACE = frozenset({Op.MAP, Op.BROADCAST, Op.SUM, Op.MAX, Op.MATMUL, Op.SCATTER_ADD})


class _Writer:
    """Emits the statements of one kernel body, node by node."""

    def __init__(self, schedule: Schedule, display: dict[int, str],
                 adjoint_of: dict[int, Node], flows: dict[int, tuple[Node, Node]],
                 lookups: set[str] = frozenset()):
        self.schedule = schedule
        self.lookups = lookups  # tables whose gradient is one row per lookup (unsummed)
        self.display = display  # a readable name per node (naming.display_names)
        self.adjoint_of = adjoint_of  # adjoint id -> its primal
        self.flows = flows  # contribution id -> (user, argument): the rule that made it
        self.ids = node_ids(schedule.order)
        self.namer = Namer()
        self.names: dict[int, str] = {}
        self.dims: dict[str, str] = {}
        self.lines: list[str] = []
        self.buffers: dict[int, str] = {}  # node id -> the caller's buffer it is written into
        self.buffer_params: list[tuple[str, tuple]] = []  # (parameter, shape) of each buffer
        self.row_tables: list[tuple[Node, list[Node]]] = []  # tables with row gradients
        self.row_blocks: dict[str, _RowBlock] = {}
        self.in_rows: dict[int, str] = {}  # in the tiles: products written into gradient rows
        self.tiling: Tiling | None = None
        self.tile: tuple[str, str] | None = None  # (start, stop) variables inside the tiles
        self.full_dims: dict[str, str] = {}  # inside the tiles: the whole batch's dims
        for node in schedule.order:
            if node.op is Op.INPUT:
                self.names[id(node)] = self.namer.fresh(node.name)

    # ------------------------------------------------------------ naming and access

    def name(self, node: Node, wanted: str | None = None) -> str:
        """The variable of ``node``, allocated on first use: the adjoint of ``h`` is ``d_`` and
        ``h``'s own variable (``d_h_2`` for the second ``h``); others by their display name."""
        if id(node) not in self.names:
            if wanted is None and not self.schedule.is_forward(node):
                primal = self.adjoint_of.get(id(node))
                flow = self.flows.get(id(node))
                if primal is not None:
                    wanted = "d_" + self.name(primal)
                elif flow is not None:
                    wanted = f"d_{self.name(flow[1])}_from_{flow[0].label}"
            self.names[id(node)] = self.namer.fresh(wanted or self.display[id(node)])
        return self.names[id(node)]

    def dim(self, d) -> str:
        if isinstance(d, int):
            return str(d)
        if is_product(d):  # "B*T": the product of the variables holding B and T
            return "(" + " * ".join(f if f.isdigit() else self.dims[f] for f in d.split("*")) + ")"
        return self.dims[d]

    def helper_int(self, d) -> str:
        """A dim (or count) passed to a helper: a fixed one as ``np.int64(n)``, since Numba
        compiles a helper afresh for every distinct literal int it is called with."""
        return f"np.int64({d})" if isinstance(d, int) else self.dim(d)

    def shape(self, shape) -> str:
        inner = ", ".join(self.dim(d) for d in shape)
        return f"({inner},)" if len(shape) == 1 else f"({inner})"

    def count(self, shape) -> str:
        return " * ".join(self.dim(d) for d in shape) if shape else "1"

    def access(self, node: Node, loop_vars: list[str], loop_shape: tuple) -> str:
        """How the loop body at ``loop_vars`` reads ``node``: a name, an element, an expression."""
        if node.op is Op.CONST:
            return repr(node.attr("value"))
        if id(node) in self.schedule.aliases:  # a scalar in a shape of ones: the scalar
            return self.access(node.args[0], [], ())
        if node.op is Op.SIZE:
            dims = {**self.dims, **self.full_dims}  # a size is the whole batch's, in tiles too
            return f"float({' * '.join(dims[d] for d in node.attr('dims'))})"
        if id(node) in self.schedule.fused:
            return self._value_expr(node, loop_vars, loop_shape)
        name = self.names[id(node)]
        if node.ndim == 0:
            return name
        offset = len(loop_shape) - node.ndim
        index = [
            "0" if d == 1 and loop_shape[offset + j] != 1 else loop_vars[offset + j]
            for j, d in enumerate(node.shape)
        ]
        return f"{name}[{', '.join(index)}]"

    def var(self, node: Node) -> str:
        """How a whole-array statement (a helper call, a return) names ``node``."""
        return self.access(node, [], ()) if node.ndim == 0 else self.names[id(node)]

    def computes(self, node: Node) -> bool:
        """Whether the kernel has a step of its own for ``node`` (not an input or constant)."""
        return node.op not in (Op.INPUT, Op.CONST, Op.SIZE) and id(node) in self.ids

    def scalar_result(self, node: Node, wanted: str) -> str:
        """A variable holding the 0-d ``node`` (a gradient that is a constant, input or
        forward value gets one here)."""
        if id(node) in self.names and not self.schedule.is_forward(node) \
                and node.op is not Op.INPUT:
            return self.names[id(node)]
        name = self.namer.fresh(wanted)
        self.lines.append(f"{name} = {self.var(node)}")
        return name

    def fill(self, buffer: str, node: Node) -> None:
        """Copy ``node`` into the caller's buffer (a gradient that is a constant, an input, a
        forward value or another input's gradient)."""
        what = self.shown(node) if id(node) in self.ids else "a constant"
        self.lines.append(f"# {buffer} is {what} itself, copied into the caller's buffer")
        value = self.names.get(id(node)) or self.access(node, [], ())  # an array or a constant
        self.lines.append(f"{buffer}[:] = {value}")

    def _alloc(self, node: Node, name: str, fill: str | None = None) -> None:
        """The array ``name`` for ``node``: new, or the caller's buffer; filled if asked."""
        if id(node) not in self.buffers:
            self.lines.append(f"{name} = np.empty({self.shape(node.shape)}, dt)")
        if fill is not None:
            self._fill(name, [self.dim(d) for d in node.shape], fill)

    def _fill(self, name: str, extents: list[str], value: str) -> None:
        # A loop rather than np.zeros/np.full: those are separate Numba compiles (~0.15 s each).
        loop_vars, heads = self._loops_over(extents)
        self.lines.extend(heads)
        self.lines.append("    " * len(loop_vars) + f"{name}[{', '.join(loop_vars)}] = {value}")

    # ------------------------------------------------------------ the body

    def body(self) -> list[str]:
        self._prologue()
        if self.tiling is not None:
            return self._tiled_body()
        self._steps_in(self._steps(), "")
        return self.lines

    def _steps_in(self, steps: list[Node], region: str) -> None:
        """The steps of one region of the kernel, a section header where the forward steps
        end and the backward ones (the adjoints) begin."""
        section = None
        for node in steps:
            backward = not self.schedule.is_forward(node)
            if backward != section:
                section = backward
                self.lines += ["", (f"# --- backward{region}: adjoints in reverse topological "
                                    "order; downstream = upstream x local ---") if backward
                               else f"# --- forward{region}: the loss, one step per node ---"]
            self._comment(node)
            self._emit(node)

    def _steps(self) -> list[Node]:
        skipped = self.schedule.fused | self.schedule.folded | self.schedule.aliases
        return [n for n in self.schedule.order if n.op not in (Op.INPUT, Op.CONST, Op.SIZE)
                and id(n) not in skipped]

    def _tiled_body(self) -> list[str]:
        tiling, kind = self.tiling, self.tiling.kind
        steps = self._steps()
        self.lines += ["", "# ===== before the tiles: what depends on no row ====="]
        self._steps_in([n for n in steps if kind[id(n)] == PRE], ", before the tiles")
        self.lines += ["", f"# sums over the rows of {tiling.dim}: zeroed here, added to by "
                           "every tile"]
        for node in steps:
            if kind[id(node)] == SUM:
                self._start_sum(node)
        for table, terms in self.row_tables:
            self.rows_setup(table, terms)
        full = self.dims[tiling.dim]
        start, stop = self.namer.fresh("start"), self.namer.fresh("stop")
        rows = self.namer.fresh(tiling.dim + "_tile")
        outer, self.lines = self.lines, []
        self.lines += [f"{stop} = min({start} + {TILE_ROWS}, {full})", f"{rows} = {stop} - {start}"]
        saved_names = {}
        for node in tiling.row_inputs:
            saved_names[id(node)] = self.names[id(node)]
            sliced = self.namer.fresh(self.names[id(node)] + "_tile")
            self.lines.append(f"{sliced} = {self.names[id(node)]}[{start}:{stop}]")
            self.names[id(node)] = sliced
        self.full_dims, self.dims = dict(self.dims), {**self.dims, tiling.dim: rows}
        self.tile = (start, stop)
        self.in_rows = self.row_targets()
        self._steps_in([n for n in steps if kind[id(n)] in (ROW, SUM)], " of the tile")
        for table, _ in self.row_tables:
            self.rows_scatter(self.row_blocks[table.name])
        inner = self.lines
        self.dims, self.full_dims, self.tile, self.in_rows = self.full_dims, {}, None, {}
        self.names.update(saved_names)
        self.lines = outer + [
            "",
            f"# ===== the rows of {tiling.dim}, {TILE_ROWS} at a time (each tile's arrays stay "
            "in cache) =====",
            f"for {start} in range(0, {full}, {TILE_ROWS}):",
            *("    " + line if line else "" for line in inner),
            "",
            "# ===== after the tiles: what depends on the sums =====",
        ]
        self._steps_in([n for n in steps if kind[id(n)] == POST], ", after the tiles")
        return self.lines

    def _start_sum(self, node: Node) -> None:
        """Before the tiles: the zeroed accumulator of a sum over the rows."""
        name = self.name(node)
        if node.op is Op.MATMUL:  # the first tile writes it (see _emit_matmul)
            if id(node) not in self.buffers:
                self.lines.append(f"{name} = np.empty({self.shape(node.shape)}, dt)")
        elif node.ndim == 0:
            self.lines.append(f"{name} = 0.0")
        else:
            self._alloc(node, name, "0.0")

    def _prologue(self) -> None:
        self.lines += entry_lines(self, [n for n in self.schedule.order if n.op is Op.INPUT])
        probe = next(
            (n for n in self.schedule.order if n.op is Op.INPUT and n.dtype == FLOAT and n.ndim),
            None,
        )
        self.lines.append(
            f"dt = {self.names[id(probe)]}.dtype  # float32 or float64, as called"
            if probe is not None else "dt = np.float64"
        )

    def _comment(self, node: Node) -> None:
        """``# h = tanh(z)  (B, 100)``, in the kernel's own names; a backward step says which
        rule made it (``[tanh: upstream x local]``); fused parts follow, one line each."""
        self.name(node)
        for part in self._fused_parts(node):
            if part.op is Op.MAP:
                rhs = print_scalar(part.attr("fn").expr, [self.shown(a) for a in part.args])
            else:
                extra = [f"{k}={v}" for k, v in part.attrs if k not in ("fn", "label", "name")]
                rhs = f"{part.label}({', '.join([self.shown(a) for a in part.args] + extra)})"
            text = f"{self.shown(part)} = {rhs}  {format_shape(part.shape)}" + self._rule(part)
            self.lines.append(("# " if part is node else "#   fused: ") + text)

    def shown(self, node: Node) -> str:
        """How comments call ``node``: its variable, its value, or (fused) its name."""
        if node.op is Op.CONST:
            return repr(node.attr("value"))
        if node.op is Op.SIZE or id(node) in self.schedule.aliases:
            return self.access(node, [], ()) if node.ndim == 0 or node.op is Op.SIZE \
                else self.shown(node.args[0])
        if id(node) in self.schedule.folded:
            return self.shown(node.args[0]) + ".T"
        return self.name(node)  # fused nodes too: each has a name of its own in comments

    def _rule(self, node: Node) -> str:
        if self.schedule.is_forward(node):
            return ""
        if id(node) in self.flows:
            user, arg = self.flows[id(node)]
            return f"  [{user.label}: upstream x local, into {self.shown(arg)}]"
        if id(node) in self.adjoint_of and node.op is Op.MAP:
            return f"  [the gradients flowing into {self.shown(self.adjoint_of[id(node)])}, added]"
        return ""

    def _fused_parts(self, node: Node) -> list[Node]:
        parts, stack = [], [node]
        while stack:
            current = stack.pop()
            parts.append(current)
            stack.extend(a for a in reversed(current.args) if id(a) in self.schedule.fused)
        return parts

    # ------------------------------------------------------------ per op

    def _emit(self, node: Node) -> None:
        emitter = getattr(self, f"_emit_{node.op.value}")
        buffer = self.buffers.get(id(node))
        if buffer is None or node.op in _IN_PLACE or (
                node.op is Op.RESHAPE and node.args[0].ndim == 0):
            emitter(node, self.name(node))
            return
        temp = self.namer.fresh(self.display[id(node)])
        self.names[id(node)] = temp
        emitter(node, temp)
        self.lines.append(f"{buffer}[:] = {temp}  # into the caller's buffer")

    def _loops(self, shape) -> tuple[list[str], list[str]]:
        return self._loops_over([self.dim(d) for d in shape])

    @staticmethod
    def _loops_over(extents: list[str]) -> tuple[list[str], list[str]]:
        loop_vars = [f"i{k}" for k in range(len(extents))]
        heads = ["    " * k + f"for {v} in range({extent}):"
                 for k, (v, extent) in enumerate(zip(loop_vars, extents))]
        return loop_vars, heads

    def _elementwise(self, node: Node, name: str) -> None:
        if node.ndim == 0:
            self.lines.append(f"{name} = {self._value_expr(node, [], ())}")
            return
        loop_vars, heads = self._loops(node.shape)
        self._alloc(node, name)
        self.lines.extend(heads)
        value = self._value_expr(node, loop_vars, node.shape)
        self.lines.append("    " * len(loop_vars) + f"{name}[{', '.join(loop_vars)}] = {value}")

    def _value_expr(self, node: Node, loop_vars, loop_shape) -> str:
        if node.op is Op.BROADCAST:
            return self.access(node.args[0], loop_vars, loop_shape)
        args = [self.access(a, loop_vars, loop_shape) for a in node.args]
        return print_scalar(node.attr("fn").expr, args)

    _emit_map = _elementwise
    _emit_broadcast = _elementwise

    def _reduce(self, node: Node, name: str, start: str, update: str) -> None:
        x = node.args[0]
        axes = node.attr("axes")
        loop_vars, heads = self._loops(x.shape)
        kept = [v for k, v in enumerate(loop_vars) if k not in axes]
        target = f"{name}[{', '.join(kept)}]" if kept else name
        if self._accumulates(node):
            pass  # zeroed before the tiles (_start_sum)
        elif kept:
            self._alloc(node, name, start)
        else:
            self.lines.append(f"{name} = {start}")
        self.lines.extend(heads)
        value = self.access(x, loop_vars, x.shape)
        self.lines.append("    " * len(loop_vars) + update.format(target=target, value=value))

    def _emit_sum(self, node: Node, name: str) -> None:
        self._reduce(node, name, "0.0", "{target} += {value}")

    def _emit_max(self, node: Node, name: str) -> None:
        self._reduce(node, name, "-np.inf", "{target} = max({target}, {value})")

    def _operand(self, node: Node) -> str:
        if id(node) in self.schedule.folded:
            return f"{self.var(node.args[0])}.T"
        return self.var(node)

    def _emit_matmul(self, node: Node, name: str) -> None:
        if node.args[0].ndim > 2:
            self._emit_batched_matmul(node, name)
            return
        a, b = (self._operand(x) for x in node.args)
        helper = "matmul" if all(x.ndim == 2 for x in node.args) else "dot"
        if self._accumulates(node):  # x.T @ y over the rows: the first tile writes, others add
            self.lines += [f"if {self.tile[0]} == 0:", f"    {helper}_into({a}, {b}, {name})",
                           "else:", f"    {helper}_add({a}, {b}, {name})"]
        elif id(node) in self.buffers:
            self.lines.append(f"{helper}_into({a}, {b}, {name})")
        elif id(node) in self.in_rows:  # the lookups' adjoint: into the gradient's rows
            self.lines += [f"{name} = {self.in_rows[id(node)]}  # this tile's gradient rows",
                           f"{helper}_into({a}, {b}, {name})"]
        else:
            self.lines.append(f"{name} = {helper}({a}, {b})")

    def _emit_batched_matmul(self, node: Node, name: str) -> None:
        """``(..., m, k) @ (k, n)``: one product over all the rows; ``(..., m, k) @
        (..., k, n)``: one product per batch element, into the rows of the result."""
        a, b = node.args
        out = name
        if id(node) not in self.buffers:
            self.lines.append(f"{name} = np.empty({self.shape(node.shape)}, dt)")
        if b.ndim <= 2:
            helper = "matmul" if b.ndim == 2 else "dot"
            rows = self.count(a.shape[:-1])
            a_rows = _tuple([rows, self.dim(a.shape[-1])])
            out_rows = _tuple([rows] + [self.dim(d) for d in b.shape[1:]])
            self.lines.append(f"{helper}_into({self.var(a)}.reshape({a_rows}), "
                              f"{self._operand(b)}, {out}.reshape({out_rows}))")
            return
        batch = self.count(a.shape[:-2])
        views = [f"{self.var(x)}.reshape({_tuple([batch] + [self.dim(d) for d in x.shape[-2:]])})"
                 for x in (a, b, node)]
        self.lines += [f"for i0 in range({batch}):  # one product per batch element",
                       f"    matmul_into({views[0]}[i0], {views[1]}[i0], {views[2]}[i0])"]

    def _flat_rows(self, node: Node) -> str:
        """``node`` viewed as a 2-D array of rows (its first dim by the rest)."""
        var = self.var(node)
        if node.ndim == 2:
            return var
        return f"{var}.reshape(({self.dim(node.shape[0])}, {self.count(node.shape[1:])}))"

    def flat_index(self, node: Node) -> str:
        var = self.var(node)
        if node.ndim == 0:
            return f"np.array([{var}])"
        return var if node.ndim == 1 else f"{var}.ravel()"

    def _emit_take(self, node: Node, name: str) -> None:
        table, index = node.args
        if index.ndim == 0:
            row = f"{self.var(table)}[{self.var(index)}]"
            self.lines.append(f"{name} = {row}" + (".copy()" if node.ndim else ""))
            return
        gathered = f"gather_rows({self._flat_rows(table)}, {self.flat_index(index)})"
        if node.ndim != 2 or index.ndim != 1:
            gathered += f".reshape({self.shape(node.shape)})"
        self.lines.append(f"{name} = {gathered}")

    def _emit_scatter_add(self, node: Node, name: str) -> None:
        values, index = node.args
        width = self.count(node.shape[1:])
        if not self._accumulates(node):  # else zeroed before the tiles
            self._alloc(node, name, "0.0")
        values_2d = f"{self.var(values)}.reshape(({self.count(index.shape)}, {width}))"
        target = name if node.ndim == 2 else f"{name}.reshape(({self.dim(node.shape[0])}, {width}))"
        self.lines.append(f"scatter_rows({target}, {self.flat_index(index)}, {values_2d})")

    def _emit_reshape(self, node: Node, name: str) -> None:
        x = self.var(node.args[0])
        if node.args[0].ndim == 0:
            self._alloc(node, name, x)
        elif node.ndim == 0:
            self.lines.append(f"{name} = {x}.ravel()[0]")
        else:
            self.lines.append(f"{name} = {x}.reshape({self.shape(node.shape)})")

    def _emit_transpose(self, node: Node, name: str) -> None:
        x = self.var(node.args[0])
        self.lines.append(
            f"{name} = np.ascontiguousarray(np.transpose({x}, {node.attr('perm')}))"
        )

    def _emit_pick(self, node: Node, name: str) -> None:
        x, labels = (self.var(a) for a in node.args)
        self.lines.append(f"{name} = pick_columns({x}, {labels})")

    def _emit_unpick(self, node: Node, name: str) -> None:
        g, labels = (self.var(a) for a in node.args)
        self.lines.append(
            f"{name} = unpick_columns({g}, {labels}, {self.helper_int(node.shape[1])})")

    def _emit_concat(self, node: Node, name: str) -> None:
        parts = ", ".join(self.var(a) for a in node.args)
        self.lines.append(f"{name} = np.concatenate(({parts},), {node.attr('axis')})")

    def _emit_stop_gradient(self, node: Node, name: str) -> None:
        self.lines.append(f"{name} = {self.var(node.args[0])}")

    def _emit_slice(self, node: Node, name: str) -> None:
        index = [":"] * node.ndim
        index[node.attr("axis")] = f"{node.attr('start')}:{node.attr('stop')}"
        x = self.var(node.args[0])
        self.lines.append(f"{name} = np.ascontiguousarray({x}[{', '.join(index)}])")

    # ------------------------------------------------------------ row gradients

    def _accumulates(self, node: Node) -> bool:
        return self.tile is not None and self.tiling.kind[id(node)] == SUM

    def rows_setup(self, table: Node, terms: list[Node]) -> _RowBlock:
        """Lines that find a table's looked-up rows and make their gradient rows: one per
        distinct row, zeroed (summed into by ``rows_scatter``), or one per lookup."""
        base = f"d_{table.name}"
        per_lookup = table.name in self.lookups
        block = _RowBlock(None if per_lookup else self.namer.fresh(base + "_slot"),
                          self.namer.fresh(base + "_index"), self.namer.fresh(base + "_rows"),
                          self.count(table.shape[1:]), terms)
        lookups = [self.flat_index(t.args[1]) for t in terms]
        joined = lookups[0] if len(lookups) == 1 else f"np.concatenate(({', '.join(lookups)}))"
        ids = ", ".join(f"{self.shown(t.args[0])} at {self.shown(t.args[1])}" for t in terms)
        head = f"# gradient of {self.var(table)} as rows (scatter_add of {ids}):"
        self.row_blocks[table.name] = block
        if per_lookup:
            total = " + ".join(self.count(t.args[1].shape) for t in terms)
            self.lines += [
                "", head, "# one row per lookup, in lookup order, not summed (a row looked up "
                "twice comes", "# twice); nothing of size V is touched",
                f"{block.index} = {joined}" + (".copy()" if len(lookups) == 1 else ""),
                f"{block.rows} = np.empty(({total}, {block.width}), dt)",
            ]
            return block
        self.lines += [
            "", head + " the looked-up rows,",
            "# each with the sum of its lookups' adjoints; nothing of size V is touched",
            f"{block.slot}, {block.index} = row_slots({joined})",
            f"{block.rows} = np.empty(({block.index}.shape[0], {block.width}), dt)",
        ]
        self._fill(block.rows, [f"{block.index}.shape[0]", block.width], "0.0")
        return block

    def _term_spans(self, block: _RowBlock):
        """Each term of ``block`` with its lookup count and its span ``(first, last)`` in the
        lookup order (in the tiles: the current tile's lookups)."""
        start = "0"
        for term in block.terms:
            term_index = term.args[1]
            n = self.count(term_index.shape)
            if self.tile is not None:  # this tile's lookups: rows start..stop of the index
                per_row = self.count(term_index.shape[1:])
                whole = " * ".join(self.full_dims.get(d, self.dim(d)) if isinstance(d, str)
                                   else str(d) for d in term_index.shape)
                span = [f"{bound} * {per_row}" if start == "0" else
                        f"{start} + {bound} * {per_row}" for bound in self.tile]
            else:
                whole = n
                span = [start, f"{start} + {n}"]
            yield term, n, span
            start = whole if start == "0" else f"{start} + {whole}"

    def row_targets(self) -> dict[int, str]:
        """In the tiles: products whose result is a tile's rows of a per-lookup gradient
        (``d_x = d_z @ W``, read only as the lookups' adjoint), by the view they write into."""
        targets = {}
        for block in self.row_blocks.values():
            if block.slot is not None:
                continue
            for term, n, (first, last) in self._term_spans(block):
                product = term.args[0]
                if product.op is Op.RESHAPE and self.schedule.users[id(product.args[0])] == [
                        product]:
                    product = product.args[0]
                if product.op is Op.MATMUL and product.ndim == 2 and all(
                        u is term for u in self.schedule.users[id(term.args[0])]):
                    targets[id(product)] = (f"{block.rows}[{first}:{last}]"
                                            f".reshape({self.shape(product.shape)})")
        return targets

    def rows_scatter(self, block: _RowBlock) -> None:
        """Lines that put each lookup's adjoint into its row (the current tile's lookups):
        added into its distinct row, or copied to its own (unless computed there)."""
        spans = list(self._term_spans(block))
        if self.tile is not None:
            how = "added" if block.slot is not None else "copied"
            self.lines.append(f"# this tile's lookups, {how} into their rows of {block.rows}")
        for term, n, (first, last) in spans:
            values = term.args[0]
            values_2d = f"{self.var(values)}.reshape(({n}, {block.width}))"
            if block.slot is not None:
                part = block.slot if len(block.terms) == 1 and self.tile is None else \
                    f"{block.slot}[{first}:{last}]"
                self.lines.append(f"scatter_rows({block.rows}, {part}, {values_2d})")
            elif any(id(v) in self.in_rows for v in (values, *values.args[:1])):
                self.lines.append(f"#   {self.var(values)} was computed in them")
            else:
                self.lines.append(f"{block.rows}[{first}:{last}] = {values_2d}")


def _tuple(items: list[str]) -> str:
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


@dataclass
class _RowBlock:
    slot: str | None  # each lookup's slot among the distinct rows (None: a row per lookup)
    index: str  # the distinct rows
    rows: str  # their summed gradients
    width: str
    terms: list[Node]
