"""What the printer reads a node through: a scope (names, dims, tile) and the plan.

A ``Scope`` says how the statements being printed see the kernel's values: the variable of
each node (inside the tiles, a row input is its tile's slice), the variable of each named dim
(inside the tiles, the tiled dim is the tile's row count and ``full_dims`` the whole batch's),
the tile's ``(start, stop)`` variables, and inside an elementwise region's loop the scalar of
each of its steps. Scopes are frozen: the tiles and the regions print in a new scope made with
``dataclasses.replace``, never by swapping fields in and out.

The functions here turn a node into the text that reads it (``access``, ``var``, ``shown``)
and dims into the text of extents and shapes; they only read the plan and the scope.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..ir import Node, Op, is_product
from .printer import print_scalar


@dataclass(frozen=True)
class Scope:
    names: Mapping[int, str]  # node id -> its variable
    dims: Mapping[str, str]  # named dim -> the variable holding it
    full_dims: Mapping[str, str] = field(default_factory=dict)  # inside the tiles: the whole batch's
    tile: tuple[str, str] | None = None  # inside the tiles: the (start, stop) variables
    first_row: str = ""  # inside the tiles: the first row of this call's (or range's) rows
    in_loop: Mapping[int, str] = field(default_factory=dict)  # inside a region's loop: step scalars
    in_rows: Mapping[int, str] = field(default_factory=dict)  # in the tiles: products into rows


def dim(scope: Scope, d) -> str:
    if isinstance(d, int):
        return str(d)
    if is_product(d):  # "B*T": the product of the variables holding B and T
        return "(" + " * ".join(f if f.isdigit() else scope.dims[f] for f in d.split("*")) + ")"
    return scope.dims[d]


def helper_int(scope: Scope, d) -> str:
    """A dim (or count) passed to a helper: a fixed one as ``np.int64(n)``, since Numba
    compiles a helper afresh for every distinct literal int it is called with."""
    return f"np.int64({d})" if isinstance(d, int) else dim(scope, d)


def shape_text(scope: Scope, shape) -> str:
    inner = ", ".join(dim(scope, d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def count(scope: Scope, shape) -> str:
    return " * ".join(dim(scope, d) for d in shape) if shape else "1"


def access(plan, scope: Scope, node: Node, loop_vars: list[str], loop_shape: tuple) -> str:
    """How the loop body at ``loop_vars`` reads ``node``: a name, an element, an expression."""
    schedule = plan.schedule
    if node.op is Op.CONST:
        return repr(node.attr("value"))
    if id(node) in scope.in_loop:  # a step of the region being printed: its scalar
        return scope.in_loop[id(node)]
    if id(node) in schedule.aliases:  # a scalar in a shape of ones: the scalar
        return access(plan, scope, node.args[0], [], ())
    if node.op is Op.SIZE:
        dims = {**scope.dims, **scope.full_dims}  # a size is the whole batch's, in tiles too
        return f"float({' * '.join(dims[d] for d in node.attr('dims'))})"
    if id(node) in schedule.fused:
        return value_expr(plan, scope, node, loop_vars, loop_shape)
    name = scope.names[id(node)]
    if node.ndim == 0:
        return name
    offset = len(loop_shape) - node.ndim
    index = [
        "0" if d == 1 and loop_shape[offset + j] != 1 else loop_vars[offset + j]
        for j, d in enumerate(node.shape)
    ]
    if id(node) in plan.saved:  # a column of an earlier region's saved block
        block, _, column = plan.saved[id(node)]
        index.append(str(column))
        name = block
    return f"{name}[{', '.join(index)}]"


def value_expr(plan, scope: Scope, node: Node, loop_vars, loop_shape) -> str:
    """The scalar expression of an elementwise ``node`` at ``loop_vars``."""
    if node.op is Op.BROADCAST:
        return access(plan, scope, node.args[0], loop_vars, loop_shape)
    args = [access(plan, scope, a, loop_vars, loop_shape) for a in node.args]
    return print_scalar(node.attr("fn").expr, args)


def var(plan, scope: Scope, node: Node) -> str:
    """How a whole-array statement (a helper call, a return) names ``node``."""
    return access(plan, scope, node, [], ()) if node.ndim == 0 else scope.names[id(node)]


def flat_index(plan, scope: Scope, node: Node) -> str:
    """An index array as the 1-D array a helper takes."""
    name = var(plan, scope, node)
    if node.ndim == 0:
        return f"np.array([{name}])"
    return name if node.ndim == 1 else f"ravel({name})"


def shown(plan, scope: Scope, node: Node) -> str:
    """How comments call ``node``: its variable, its value, or (fused) its name."""
    schedule = plan.schedule
    if node.op is Op.CONST:
        return repr(node.attr("value"))
    if node.op is Op.SIZE or id(node) in schedule.aliases:
        return access(plan, scope, node, [], ()) if node.ndim == 0 or node.op is Op.SIZE \
            else shown(plan, scope, node.args[0])
    if id(node) in schedule.folded:
        return shown(plan, scope, node.args[0]) + ".T"
    return scope.names[id(node)]  # fused nodes too: each has a name of its own in comments


def loops_over(extents: list[str]) -> tuple[list[str], list[str]]:
    """The loop variables and ``for`` heads of a loop nest over ``extents``."""
    loop_vars = [f"i{k}" for k in range(len(extents))]
    heads = ["    " * k + f"for {v} in range({extent}):"
             for k, (v, extent) in enumerate(zip(loop_vars, extents))]
    return loop_vars, heads


def loops(scope: Scope, shape) -> tuple[list[str], list[str]]:
    return loops_over([dim(scope, d) for d in shape])


def new_array(shape: str, dtype: str = "dt") -> str:
    """A new array of the call's dtype. ``empty``, ``reshape`` and ``ravel`` are the helpers'
    (cached by Numba with them): NumPy's own, written in the kernel, are Numba overloads
    compiled anew in every process that compiles a kernel (1.0 s of the window classifier's
    4.9 s compile on a slow machine; without them it took 20% less)."""
    return f"empty({shape}, {dtype})"


def reshaped(text: str, shape: str) -> str:
    """``text`` viewed with ``shape`` (a C-contiguous array; see ``new_array``)."""
    return f"reshape({text}, {shape})"


def fill_lines(name: str, extents: list[str], value: str) -> list[str]:
    # A loop rather than np.zeros/np.full: those are separate Numba compiles (~0.15 s each).
    loop_vars, heads = loops_over(extents)
    return heads + ["    " * len(loop_vars) + f"{name}[{', '.join(loop_vars)}] = {value}"]


def alloc_lines(plan, scope: Scope, node: Node, name: str, fill: str | None = None) -> list[str]:
    """The array ``name`` for ``node``: new, or the caller's buffer; filled if asked."""
    lines = [] if id(node) in plan.buffers else [
        f"{name} = {new_array(shape_text(scope, node.shape))}"]
    if fill is not None:
        lines += fill_lines(name, [dim(scope, d) for d in node.shape], fill)
    return lines


def tuple_text(items: list[str]) -> str:
    """``(a,)``, ``(a, b)``, or ``()``: a tuple literal of the given expressions."""
    if not items:
        return "()"
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
