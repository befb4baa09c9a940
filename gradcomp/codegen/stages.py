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
from .entry import wrapped
from .pieces import link_pieces
from .rows import row_targets, scatter_lines, setup_lines
from .scope import Scope, alloc_lines, new_array, shape_text, tuple_text
from .steps import results_lines, steps_lines
from .tiling import POST, PRE, ROW, SUM, TILE_ROWS


def tiled_lines(plan, scope: Scope, prologue: list[str], dim_lines: list[str],
                returns: list[str]):
    """The lines of the tiled kernel, then the results, and (``plan.tile_parts``) the pieces
    and lines of the functions it calls (``_parted_lines``); staged, the lines of
    ``prepare``, of ``rows`` and of ``finish``. ``returns``: the variables it returns."""
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
    if plan.tile_parts:
        return _parted_lines(plan, scope, lines, [*post, f"return {tuple_text(returns)}"], after)
    if not plan.staged:
        header, in_tile, steps, scatters = _tile(plan, scope, "0", scope.dims[tiling.dim])
        body = header + steps_lines(plan, in_tile, steps, " of the tile") + scatters
        return lines + _loop_lines(plan, "0", scope.dims[tiling.dim], body) + [after] + post, \
            (), ()
    first, last = plan.tile.first, plan.tile.last
    header, in_tile, steps, scatters = _tile(plan, scope, first, last)
    body = header + steps_lines(plan, in_tile, steps, " of the tile") + scatters
    scalars = plan.stages.scalars
    rows = [*dim_lines, "", f"# the scalar sums over rows {first}..{last}",
            *(f"{name} = 0.0" for name in scalars), *_loop_lines(plan, first, last, body),
            f"return {tuple_text(list(scalars))}"]
    return lines, rows, [*dim_lines, "", after, *post]


def serve_lines(stages, params: list[str]) -> list[str]:
    """The body of ``serve``: ``rows`` on job ``job``'s arguments (control's rows from 1 + job
    x their number, one per parameter), its sums handed back."""
    made = [f"like({name}, control, base + {slot})" for slot, name in enumerate(params, 1)]
    return [
        f"base = job * {len(params)}  # the job's arguments: control's rows base + 1...",
        *wrapped(f"sums = {stages.rows}(", made, ")"),
        "hand_back(control, job, sums)",
    ]


def split_lines(plan, names: list[str]) -> list[str]:
    """The body of ``split``: a large batch on both cores. ``prepare``; the rows half..total
    posted to the other core's ``serve`` with array sums of their own (zeroed); rows 0..half
    here; the other half's sums added in; ``finish``."""
    stages = plan.stages
    param, axis = plan.tiled
    carried = list(stages.carried)
    taken = set(names) | set(carried)
    own = {}
    for name in stages.private:
        other = f"{name}_other"
        while other in taken:
            other += "_"
        own[name] = other
    second = [own.get(name, name) for name in names + carried]
    scalars = list(stages.scalars)
    unpacked = ", ".join(carried) + ("," if len(carried) == 1 else "")
    return [
        f"total = {names[param]}.shape[{axis}]",
        "# the first half: as many rows as the second (or one more), in whole tiles when that",
        "# many rows make them",
        (f"half = min((total // 2 + {TILE_ROWS - 1}) // {TILE_ROWS} * {TILE_ROWS}, "
         "(total + 1) // 2)"),
        *wrapped(f"{unpacked} = {stages.prepare}(" if carried else f"{stages.prepare}(",
                 names, ")"),
        *(["# the second half's own array sums, zeroed (added into these at the end)"]
          if own else []),
        *(f"{other} = zeroed({name})" for name, other in own.items()),
        "# job 0: rows 0..half; job 1: rows half..total, into the second half's own sums",
        *wrapped("post(control, 0, (", [*names, *carried, "0", "half"], "))"),
        *wrapped("post(control, 1, (", [*second, "half", "total"], "))"),
        f"run_halves(control)  # both at once ({stages.serve} on each), job 1 on another core",
        (f"sums, more = taken(control, 0, {_sums_tuple(scalars)}), "
         f"taken(control, 1, {_sums_tuple(scalars)})"),
        *(f"add_into({name}, {other})" for name, other in own.items()),
        *wrapped(f"return {stages.finish}(",
                 [*names, *carried, *(f"sums[{k}] + more[{k}]" for k in range(len(scalars)))],
                 ")"),
    ]


def _sums_tuple(scalars: list[str]) -> str:
    """A tuple as long as the scalar sums (``taken`` reads that many)."""
    return "(" + "".join("0.0, " for _ in scalars).rstrip(" ") + ")" if scalars else "()"


def _tile(plan, scope: Scope, first: str, last: str):
    """The first lines of a tile (its rows, its slices of the row inputs), the scope inside
    it, its steps and the lines adding its lookups into the row gradients."""
    tiling, kind, tile = plan.tiling, plan.tiling.kind, plan.tile
    start, stop = tile.start, tile.stop
    header = [f"{stop} = min({start} + {TILE_ROWS}, {last})", f"{tile.rows} = {stop} - {start}"]
    header += [f"{tile.sliced[id(n)]} = {scope.names[id(n)]}[{start}:{stop}]"
               for n in tiling.row_inputs]
    in_tile = replace(scope, names={**scope.names, **tile.sliced},
                      dims={**scope.dims, tiling.dim: tile.rows}, full_dims=dict(scope.dims),
                      tile=(start, stop), first_row=first)
    in_tile = replace(in_tile, in_rows=row_targets(plan, in_tile))
    steps = [n for n in plan.steps if kind[id(n)] in (ROW, SUM)]
    scatters = [line for block in plan.row_blocks
                for line in scatter_lines(plan, in_tile, block)]
    return header, in_tile, steps, scatters


def _loop_lines(plan, first: str, last: str, body: list[str]) -> list[str]:
    which = f"the rows of {plan.tiling.dim}" if first == "0" else \
        f"the rows {first}..{last} of {plan.tiling.dim}"
    return [
        "",
        f"# ===== {which}, {TILE_ROWS} at a time (each tile's arrays stay in cache) =====",
        f"for {plan.tile.start} in range({first}, {last}, {TILE_ROWS}):",
        *("    " + line if line else "" for line in body),
        "",
    ]


def _parted_lines(plan, scope: Scope, before: list[str], post: list[str], after: str):
    """The kernel calling two functions per tile (``plan.tile_parts``): the tile's forward,
    then its backward. Each takes what it reads that the kernel or the forward defines, and
    returns what the backward or the lines after the loop read (``link_pieces``). Returns
    the kernel's lines and, for the runtime (``KernelSource.tile_parts``), the pieces of
    the kernel's lines up to them and of the two functions, with each function's lines."""
    end = scope.dims[plan.tiling.dim]
    header, in_tile, steps, scatters = _tile(plan, scope, "0", end)
    forward = [n for n in steps if plan.schedule.is_forward(n)]
    backward = [n for n in steps if not plan.schedule.is_forward(n)]
    bodies = [[*before, f"{plan.tile.start} = 0", *header],
              steps_lines(plan, in_tile, forward, " of the tile"),
              steps_lines(plan, in_tile, backward, " of the tile") + scatters, post]
    prelude = next(line for line in before if line.startswith("dt = "))
    names = [name for name, _ in plan.holders()]
    linked, lines = link_pieces(plan.function, names, bodies, prelude=prelude)
    kernel, *halves = [replace(piece, function=name)
                       for piece, name in zip(linked[:3], ("", *plan.tile_parts))]
    calls = ["# the tile's forward, then its backward: two functions (two processes compile them)"]
    for piece in halves:
        calls += _call_lines(piece)
    body = before + _loop_lines(plan, "0", end, header + calls) + [after] + post[:-1]
    return body, (kernel, *halves), list(zip(halves, lines[1:3]))


def _call_lines(piece) -> list[str]:
    target = f"{', '.join(piece.returns)} = " if piece.returns else ""
    return [f"{target}{piece.function}(", *wrapped("    ", list(piece.params), ")")]


def _start_sum_lines(plan, scope: Scope, node: Node) -> list[str]:
    """Before the tiles: the zeroed accumulator of a sum over the rows."""
    name = scope.names[id(node)]
    if node.op is Op.MATMUL:  # the first tile writes it (op_lines.matmul_lines)
        return [] if id(node) in plan.buffers else [
            f"{name} = {new_array(shape_text(scope, node.shape))}"]
    if node.ndim == 0:
        return [f"{name} = 0.0"]
    return alloc_lines(plan, scope, node, name, "0.0")
