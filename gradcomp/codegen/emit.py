"""One Numba function computing a loss and its gradients (fused forward + backward).

Contract: ``emit_kernel`` takes the loss, the ``wrt`` inputs and their gradient graphs, and
returns the complete module source plus a description of the function's parameters and
results. It is a plan and a printer: ``plan.make_plan`` makes every decision into a frozen
``Plan``; ``print_module`` turns the plan into source, through functions that take the plan
and a scope and return lines (``steps.py``, ``op_lines.py``, ``rows.py``, ``stages.py``,
``entry.py``). Every node gets one assignment (or is fused into its user's loop), preceded by
a comment in the kernel's own names; the backward half says which chain-rule step each line
is. Named dims are read from the arrays at entry, so the kernel is specialised per dtype
only. Gradients of tables used only through ``take`` can be returned as rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ..ir import FLOAT, Node, describe
from ..version import __version__
from .entry import binding_lines, entry_lines, wrapped
from .naming import HALVES, HELPERS, HELPERS_VERSION
from .outline import outline_loops
from .pieces import Piece, driver_lines, link_pieces
from .plan import Plan, Result, Stages, make_plan
from .regions import Region
from .rows import scatter_lines, setup_lines
from .scope import Scope, var
from .stages import serve_lines, split_lines, tiled_lines
from .steps import results_lines, steps_lines

JIT = '@numba.njit(cache=True, nogil=True, error_model="numpy")'
# a function only the kernel calls: no wrappers for calls from Python or C (each costs compile
# time; the interpreted kernel, ``jit=False``, calls the plain functions)
INNER_JIT = ('@numba.njit(cache=True, nogil=True, error_model="numpy",\n'
             '             no_cpython_wrapper=True, no_cfunc_wrapper=True)')


@dataclass(frozen=True)
class KernelSource:
    source: str
    function: str  # the kernel's name in the module
    params: tuple[Node, ...]  # inputs, in parameter order
    buffers: tuple[Node, ...]  # then one buffer parameter per array gradient: its input
    results: tuple[Result, ...]  # the value, then per wrt input its gradient, by kind
    stages: Stages | None = None  # a staged kernel's three functions (codegen/stages.py)
    # a tiled kernel: (argument, axis) holding its tiled dim (it can be staged, stages.py)
    tiled: tuple[int, int] | None = None
    pieces: tuple[Piece, ...] = ()  # a long kernel's pieces, in call order (pieces.py)
    # a tile in two functions (stages.py): what the kernel defines before them, then the
    # tile's forward and its backward, whose parameters' types a second process guesses
    tile_parts: tuple[Piece, ...] = ()


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
    staged: bool = False,
) -> KernelSource:
    """Source of ``function(*inputs) -> (loss, *grads)``; ``rows`` names row-gradient inputs.

    ``lookups`` (a subset of ``rows``) get one gradient row per lookup, unsummed, in lookup
    order (as PyTorch's sparse embedding gradient); the others one row per distinct row.
    ``staged``: a tiled kernel as three functions (``stages.py``); the result's ``tiled`` says
    whether there is such a kernel, ``stages`` describes it.

    ``unused`` are inputs the caller passes that the graph does not read (a ``wrt`` input the
    loss does not depend on): parameters of the kernel all the same, checked like the others.
    ``adjoints`` (``autodiff.gradients``) says which node is the gradient of which: it names
    the backward steps (``d_h``) and the rule each applies.
    """
    plan = make_plan(loss, wrt, grads, rows, function, fuse, unused, adjoints, lookups, staged)
    source, pieces, parts = print_kernel(plan)
    return KernelSource(source, function, plan.params, plan.buffer_inputs, plan.results,
                        plan.stages, plan.tiled, pieces, parts)


def print_module(plan: Plan) -> str:
    """The module's source: its docstring, imports and the kernel (or its three stages, or
    the kernel calling its pieces and the pieces)."""
    return print_kernel(plan)[0]


def print_kernel(plan: Plan) -> tuple[str, tuple[Piece, ...], tuple[Piece, ...]]:
    """The module's source, a long kernel's pieces (none: one function) and a tile's two
    functions' (``KernelSource.tile_parts``)."""
    scope = Scope(plan.names, plan.dims)
    dims = binding_lines(plan)
    probe = next((n for n in plan.params if n.dtype == FLOAT and n.ndim), None)
    dt = (f"dt = {plan.names[id(probe)]}.dtype  # float32 or float64, as called"
          if probe is not None else "dt = np.float64")
    prologue = entry_lines(plan, scope) + [dt]
    returns = [var(plan, scope, r) if isinstance(r, Node) else r for r in plan.returns]
    names = [name for name, _ in plan.holders()]
    head = _head(plan, names, returns)
    parts, functions = (), ()  # (a tiled kernel's functions: stages.tiled_lines)
    if plan.tiling is None:
        rows = [line for block in plan.row_blocks for line in
                setup_lines(plan, scope, block) + scatter_lines(plan, scope, block)]
        if len(plan.pieces) > 1:
            return (*_pieces_module(plan, scope, head, prologue, dt, rows, names, returns), ())
        body = prologue + steps_lines(plan, scope, plan.steps, "") + results_lines(
            plan, scope, rows)
    elif not plan.staged:
        body, parts, functions = tiled_lines(plan, scope, prologue, dims + [dt], returns)
    else:
        prepare, rows, finish = tiled_lines(plan, scope, prologue, dims + [dt], returns)
        stages = plan.stages
        carried = list(stages.carried)
        first, last = plan.tile.first, plan.tile.last
        parts = [
            [*_define(JIT, stages.prepare, names, "Before the tiles: checks the call, computes "
                     "what depends on no row,\n    zeroes the sums over the rows."),
             *_indented(prepare), *_indented([_return(carried)])],
            [*_define(JIT, stages.rows, names + carried + [first, last],
                     f"The tiles of rows {first}..{last}: each adds its share into the sums."),
             *_indented(rows)],
            [*_define(JIT, stages.finish, names + carried + list(stages.scalars),
                     "After the tiles: what depends on the sums, and the results."),
             *_indented(finish), *_indented([_return(returns)])],
            [*_define(JIT, stages.serve, ["control", "job", *names, *carried, first, last],
                      f"One half of a split call (gradcomp/runtime/halves.py):\n    "
                      f"{stages.rows} on the arguments control holds for job 0 or 1, its sums\n"
                      f"    handed back there. The other parameters only give the types: the "
                      f"job's arrays\n    are made from the addresses and shapes in control."),
             *_indented(serve_lines(stages, [*names, *carried, first, last]))],
            [*_define(JIT, stages.split, ["control", *names],
                      f"A large batch on both cores: the rows in two halves, one here and one "
                      f"on a thread\n    of NumPy's OpenBLAS, at once, each with sums of its "
                      f"own, added before\n    {stages.finish}."),
             *_indented(split_lines(plan, names))],
        ]
        return _joined(head, parts), (), ()
    body, loops = outline_loops(body, names, plan.function, INNER_JIT, wrapped)
    kernel = [JIT, f"def {plan.function}({', '.join(names)}):", *_indented(body),
              *_indented([_return(returns)])]
    called = []
    for (piece, lines), doc in zip(functions, (
            "The forward of one tile of rows (the kernel's tile loop calls it).",
            "The backward of one tile of rows: adds its share into the sums.")):
        lines, more = outline_loops(lines, list(piece.params), piece.function, INNER_JIT,
                                    wrapped)
        called += [[*_define(INNER_JIT, piece.function, list(piece.params), doc),
                    *_indented(lines),
                    *_indented([_return(list(piece.returns))] if piece.returns else [])], *more]
    return _joined(head, [kernel, *called, *loops]), (), tuple(parts)


def _pieces_module(plan: Plan, scope: Scope, head, prologue, dt, rows, names, returns):
    """A long kernel's module: the kernel calling its pieces, then the pieces in order."""
    bodies = []
    for k, (start, stop) in enumerate(plan.pieces):
        body = steps_lines(plan, scope, plan.steps[start:stop], "")
        if k == len(plan.pieces) - 1:
            body += results_lines(plan, scope, rows) + [_return(returns)]
        bodies.append(prologue + body if k == 0 else body)
    # each later piece that needs the dtype reads it from an array it takes
    pieces, bodies = link_pieces(plan.function, names, bodies, prelude=dt)
    counts = [len(s.members) if isinstance(s, Region) else 1 for s in plan.steps]
    parts = [driver_lines(plan.function, names, pieces, wrapped)]
    for k, (piece, body, (start, stop)) in enumerate(zip(pieces, bodies, plan.pieces)):
        what = "checks the call, then " if k == 0 else ""
        first, last = sum(counts[:start]) + 1, sum(counts[:stop])
        doc = f"Piece {k + 1} of {len(pieces)}: {what}steps {first}-{last} of {sum(counts)}."
        parts.append([*_define(JIT, piece.function, list(piece.params), doc),
                      *_indented(body),
                      *_indented([_return(list(piece.returns))] if k < len(pieces) - 1 else [])])
    return _joined(head, parts), pieces


def _define(jit: str, name: str, params: list[str], doc: str) -> list[str]:
    """A function's first lines: its decorator, its ``def`` and its docstring."""
    return [jit, *wrapped(f"def {name}(", params, "):"), f'    """{doc}"""']


def _joined(head: list[str], parts: list[list[str]]) -> str:
    return "\n".join(head + [line for part in parts for line in part + ["", ""]]).rstrip() + "\n"


def _head(plan: Plan, names: list[str], returns: list[str]) -> list[str]:
    graph_hash = hashlib.sha256("\n".join(
        describe(n, plan.ids) for n in plan.schedule.order).encode()).hexdigest()[:16]
    function = plan.function
    buffers = [name for name, _ in plan.buffer_params]
    filled = (f"The caller's arrays {', '.join(buffers)} receive those gradients in place."
              if buffers else "")
    return [
        f'"""Generated by gradcomp {__version__} (helpers {HELPERS_VERSION}); '
        f'graph {graph_hash}.',
        "",
        f"{function}({', '.join(names)}) -> ({', '.join(returns)})",
        *([filled] if filled else []),
        *([f"For large batches, in three steps: {function}_prepare, {function}_rows over a "
           f"range of rows,", f"{function}_finish (the runtime runs two ranges at once: "
           f"{function}_split)."]
          if plan.staged else []),
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
        *([f"from gradcomp.runtime.halves import {', '.join(HALVES)}"] if plan.staged else []),
        "",
        "",
    ]


def _indented(lines: list[str]) -> list[str]:
    return ["    " + line if line else "" for line in lines]


def _return(values: list[str]) -> str:
    if not values:
        return "return ()"
    return f"return {', '.join(values)}" + ("," if len(values) == 1 else "")

