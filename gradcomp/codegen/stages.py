"""The body of a tiled kernel: one function, or three for splitting the rows between cores.

One function (the kernel ``fn.source`` shows): what depends on no row, then the tiles over all
the rows, adding into the sums, then what depends on the sums. Staged (the module that
``runtime/split.py`` compiles for large batches), the same lines as three functions:

``prepare`` checks the call, computes what depends on no row and zeroes the sums over the
rows; ``rows(first, last)`` runs the tiles of rows first..last, adding into the sums (the
scalar sums it returns); ``finish`` computes what depends on the sums and returns the results.
Because the rows function takes a range and its sums as parameters, the runtime can run two
halves of a large batch at once, each on one core with sums of its own, and add them before
``finish``: the passes between the products then use both cores, not only the products. (One
compiled function that called the three would be compiled twice over: Numba links and
optimises its callees again, 5.8 s more for the window classifier; so the one-function kernel
stays as it was and the staged module is compiled only when a large batch comes.)
"""

from __future__ import annotations

from dataclasses import replace

from ..ir import Node, Op
from .rows import row_targets, scatter_lines, setup_lines
from .scope import Scope, alloc_lines, new_array, shape_text, tuple_text
from .steps import results_lines, steps_lines
from .tiling import POST, PRE, ROW, SUM, TILE_ROWS


def tiled_lines(plan, scope: Scope, prologue: list[str], dim_lines: list[str]):
    """The lines of the tiled kernel, then the results: one list; staged, the lines of
    ``prepare``, of ``rows`` and of ``finish``."""
    tiling, kind = plan.tiling, plan.tiling.kind
    steps = plan.steps
    sums = [n for n in steps if kind[id(n)] == SUM]
    lines = prologue + ["", "# ===== before the tiles: what depends on no row ====="]
    lines += steps_lines(plan, scope, [n for n in steps if kind[id(n)] == PRE],
                         ", before the tiles")
    lines += ["", f"# sums over the rows of {tiling.dim}: zeroed here, added to by every tile"]
    for node in sums:
        if node.ndim or not plan.staged:  # (staged: scalar sums start in each range)
            lines += _start_sum_lines(plan, scope, node)
    for block in plan.row_blocks:
        lines += setup_lines(plan, scope, block)
    post = steps_lines(plan, scope, [n for n in steps if kind[id(n)] == POST],
                       ", after the tiles") + results_lines(plan, scope)
    after = "# ===== after the tiles: what depends on the sums ====="
    if not plan.staged:
        return lines + _tile_loop(plan, scope, "0", scope.dims[tiling.dim]) + [after] + post
    first, last = plan.tile.first, plan.tile.last
    scalars = plan.stages.scalars
    rows = [*dim_lines, "", f"# the scalar sums over rows {first}..{last}",
            *(f"{name} = 0.0" for name in scalars), *_tile_loop(plan, scope, first, last),
            f"return {tuple_text(list(scalars))}"]
    return lines, rows, [*dim_lines, "", after, *post]


def _tile_loop(plan, scope: Scope, first: str, last: str) -> list[str]:
    tiling, kind, tile = plan.tiling, plan.tiling.kind, plan.tile
    start, stop = tile.start, tile.stop
    inner = [f"{stop} = min({start} + {TILE_ROWS}, {last})", f"{tile.rows} = {stop} - {start}"]
    inner += [f"{tile.sliced[id(n)]} = {scope.names[id(n)]}[{start}:{stop}]"
              for n in tiling.row_inputs]
    in_tile = replace(scope, names={**scope.names, **tile.sliced},
                      dims={**scope.dims, tiling.dim: tile.rows}, full_dims=dict(scope.dims),
                      tile=(start, stop), first_row=first)
    in_tile = replace(in_tile, in_rows=row_targets(plan, in_tile))
    inner += steps_lines(plan, in_tile, [n for n in plan.steps if kind[id(n)] in (ROW, SUM)],
                         " of the tile")
    for block in plan.row_blocks:
        inner += scatter_lines(plan, in_tile, block)
    which = f"the rows of {tiling.dim}" if first == "0" else \
        f"the rows {first}..{last} of {tiling.dim}"
    return [
        "",
        f"# ===== {which}, {TILE_ROWS} at a time (each tile's arrays stay in cache) =====",
        f"for {start} in range({first}, {last}, {TILE_ROWS}):",
        *("    " + line if line else "" for line in inner),
        "",
    ]


def _start_sum_lines(plan, scope: Scope, node: Node) -> list[str]:
    """Before the tiles: the zeroed accumulator of a sum over the rows."""
    name = scope.names[id(node)]
    if node.op is Op.MATMUL:  # the first tile writes it (op_lines.matmul_lines)
        return [] if id(node) in plan.buffers else [
            f"{name} = {new_array(shape_text(scope, node.shape))}"]
    if node.ndim == 0:
        return [f"{name} = 0.0"]
    return alloc_lines(plan, scope, node, name, "0.0")
