"""The statements of each op: loops for elementwise maps and reductions, BLAS calls for
products, helper calls for lookups, scatters and picks.

Each ``<op>_lines(plan, scope, node, name)`` returns the lines that compute ``node`` into the
variable ``name``, reading its arguments through the scope (``scope.py``); ``OP_LINES`` maps
each op to its function. Nothing here keeps state: the plan and the scope say everything.
"""

from __future__ import annotations

from ..ir import FLOAT, Node, Op
from .scope import (
    Scope,
    access,
    alloc_lines,
    count,
    dim,
    flat_index,
    helper_int,
    loops,
    new_array,
    reshaped,
    shape_text,
    tuple_text,
    value_expr,
    var,
)
from .tiling import SUM


def accumulates(plan, scope: Scope, node: Node) -> bool:
    """Inside the tiles, whether ``node`` is a sum over the rows each tile adds into."""
    return scope.tile is not None and plan.tiling.kind[id(node)] == SUM


def elementwise_lines(plan, scope: Scope, node: Node, name: str) -> list[str]:
    if node.ndim == 0:
        return [f"{name} = {value_expr(plan, scope, node, [], ())}"]
    loop_vars, heads = loops(scope, node.shape)
    value = value_expr(plan, scope, node, loop_vars, node.shape)
    return [*alloc_lines(plan, scope, node, name), *heads,
            "    " * len(loop_vars) + f"{name}[{', '.join(loop_vars)}] = {value}"]


def _reduce(plan, scope: Scope, node: Node, name: str, start: str, update: str) -> list[str]:
    x = node.args[0]
    axes = node.attr("axes")
    loop_vars, heads = loops(scope, x.shape)
    kept = [v for k, v in enumerate(loop_vars) if k not in axes]
    target = f"{name}[{', '.join(kept)}]" if kept else name
    if accumulates(plan, scope, node):
        lines = []  # zeroed before the tiles (stages.start_sum_lines)
    elif kept:
        lines = alloc_lines(plan, scope, node, name, start)
    else:
        lines = [f"{name} = {start}"]
    value = access(plan, scope, x, loop_vars, x.shape)
    return lines + heads + [
        "    " * len(loop_vars) + update.format(target=target, value=value)]


def sum_lines(plan, scope, node, name):
    return _reduce(plan, scope, node, name, "0.0", "{target} += {value}")


def max_lines(plan, scope, node, name):
    return _reduce(plan, scope, node, name, "-np.inf", "{target} = max({target}, {value})")


def _operand(plan, scope: Scope, node: Node) -> str:
    if id(node) in plan.schedule.folded:
        return f"{var(plan, scope, node.args[0])}.T"
    return var(plan, scope, node)


def matmul_lines(plan, scope: Scope, node: Node, name: str) -> list[str]:
    if node.args[0].ndim > 2:
        return _batched_matmul_lines(plan, scope, node, name)
    a, b = (_operand(plan, scope, x) for x in node.args)
    helper = "matmul" if all(x.ndim == 2 for x in node.args) else "dot"
    if accumulates(plan, scope, node):  # x.T @ y over the rows: the first tile writes
        return [f"if {scope.tile[0]} == {scope.first_row}:",
                f"    {helper}_into({a}, {b}, {name})",
                "else:", f"    {helper}_add({a}, {b}, {name})"]
    if id(node) in plan.buffers:
        return [f"{helper}_into({a}, {b}, {name})"]
    if id(node) in scope.in_rows:  # the lookups' adjoint: into the gradient's rows
        return [f"{name} = {scope.in_rows[id(node)]}  # this tile's gradient rows",
                f"{helper}_into({a}, {b}, {name})"]
    return [f"{name} = {helper}({a}, {b})"]


def _batched_matmul_lines(plan, scope: Scope, node: Node, name: str) -> list[str]:
    """``(..., m, k) @ (k, n)``: one product over all the rows; ``(..., m, k) @
    (..., k, n)``: one product per batch element, into the rows of the result."""
    a, b = node.args
    lines = alloc_lines(plan, scope, node, name)
    if b.ndim <= 2:
        helper = "matmul" if b.ndim == 2 else "dot"
        rows = count(scope, a.shape[:-1])
        a_rows = tuple_text([rows, dim(scope, a.shape[-1])])
        out_rows = tuple_text([rows] + [dim(scope, d) for d in b.shape[1:]])
        return lines + [f"{helper}_into({reshaped(var(plan, scope, a), a_rows)}, "
                        f"{_operand(plan, scope, b)}, {reshaped(name, out_rows)})"]
    batch = count(scope, a.shape[:-2])
    views = [reshaped(text, tuple_text([batch] + [dim(scope, d) for d in x.shape[-2:]]))
             for x, text in ((a, var(plan, scope, a)), (b, var(plan, scope, b)), (node, name))]
    return lines + [f"for i0 in range({batch}):  # one product per batch element",
                    f"    matmul_into({views[0]}[i0], {views[1]}[i0], {views[2]}[i0])"]


def _flat_rows(plan, scope: Scope, node: Node) -> str:
    """``node`` viewed as a 2-D array of rows (its first dim by the rest)."""
    name = var(plan, scope, node)
    if node.ndim == 2:
        return name
    return reshaped(name, f"({dim(scope, node.shape[0])}, {count(scope, node.shape[1:])})")


def take_lines(plan, scope: Scope, node: Node, name: str) -> list[str]:
    table, index = node.args
    if index.ndim == 0:
        row = f"{var(plan, scope, table)}[{var(plan, scope, index)}]"
        return [f"{name} = {row}" + (".copy()" if node.ndim else "")]
    gathered = (f"gather_rows({_flat_rows(plan, scope, table)}, "
                f"{flat_index(plan, scope, index)})")
    if node.ndim != 2 or index.ndim != 1:
        gathered = reshaped(gathered, shape_text(scope, node.shape))
    return [f"{name} = {gathered}"]


def scatter_add_lines(plan, scope: Scope, node: Node, name: str) -> list[str]:
    values, index = node.args
    width = count(scope, node.shape[1:])
    lines = [] if accumulates(plan, scope, node) else alloc_lines(  # (else zeroed before)
        plan, scope, node, name, "0.0")
    values_2d = reshaped(var(plan, scope, values), f"({count(scope, index.shape)}, {width})")
    target = name if node.ndim == 2 else \
        reshaped(name, f"({dim(scope, node.shape[0])}, {width})")
    return lines + [f"scatter_rows({target}, {flat_index(plan, scope, index)}, {values_2d})"]


def reshape_lines(plan, scope: Scope, node: Node, name: str) -> list[str]:
    x = var(plan, scope, node.args[0])
    if node.args[0].ndim == 0:
        return alloc_lines(plan, scope, node, name, x)
    if node.ndim == 0:
        return [f"{name} = ravel({x})[0]"]
    return [f"{name} = {reshaped(x, shape_text(scope, node.shape))}"]


def transpose_lines(plan, scope: Scope, node: Node, name: str) -> list[str]:
    """A loop, not ``np.transpose(x, perm)``: Numba's transpose with axes compiles its
    error-message formatting into the kernel, 4-7 s of compiling on a 2-core machine (a
    plain loop nest, under 1 s)."""
    x = var(plan, scope, node.args[0])
    perm = node.attr("perm")
    loop_vars, heads = loops(scope, node.shape)
    source = [""] * len(perm)
    for k, axis in enumerate(perm):
        source[axis] = loop_vars[k]
    made = alloc_lines(plan, scope, node, name) if node.dtype == FLOAT else [
        f"{name} = {new_array(shape_text(scope, node.shape), f'{x}.dtype')}"]
    body = "    " * len(heads) + f"{name}[{', '.join(loop_vars)}] = {x}[{', '.join(source)}]"
    return [*made, *heads, body]


def pick_lines(plan, scope: Scope, node: Node, name: str) -> list[str]:
    x, labels = (var(plan, scope, a) for a in node.args)
    return [f"{name} = pick_columns({x}, {labels})"]


def unpick_lines(plan, scope: Scope, node: Node, name: str) -> list[str]:
    g, labels = (var(plan, scope, a) for a in node.args)
    return [f"{name} = unpick_columns({g}, {labels}, {helper_int(scope, node.shape[1])})"]


def concat_lines(plan, scope: Scope, node: Node, name: str) -> list[str]:
    parts = ", ".join(var(plan, scope, a) for a in node.args)
    return [f"{name} = np.concatenate(({parts},), {node.attr('axis')})"]


def stop_gradient_lines(plan, scope: Scope, node: Node, name: str) -> list[str]:
    return [f"{name} = {var(plan, scope, node.args[0])}"]


def slice_lines(plan, scope: Scope, node: Node, name: str) -> list[str]:
    index = [":"] * node.ndim
    index[node.attr("axis")] = f"{node.attr('start')}:{node.attr('stop')}"
    x = var(plan, scope, node.args[0])
    return [f"{name} = np.ascontiguousarray({x}[{', '.join(index)}])"]


OP_LINES = {
    Op.MAP: elementwise_lines, Op.BROADCAST: elementwise_lines, Op.SUM: sum_lines,
    Op.MAX: max_lines, Op.MATMUL: matmul_lines, Op.TAKE: take_lines,
    Op.SCATTER_ADD: scatter_add_lines, Op.RESHAPE: reshape_lines,
    Op.TRANSPOSE: transpose_lines, Op.PICK: pick_lines, Op.UNPICK: unpick_lines,
    Op.CONCAT: concat_lines, Op.STOP_GRADIENT: stop_gradient_lines, Op.SLICE: slice_lines,
}
