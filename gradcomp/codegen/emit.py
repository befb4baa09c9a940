"""Writes one Numba function computing a loss and its gradients (fused forward + backward).

Contract: ``emit_kernel`` takes the loss, the ``wrt`` inputs and their gradient graphs, and
returns the complete module source plus a description of the function's parameters and
results. Every node gets one assignment (or is fused into its user's loop), preceded by a
comment in the kernel's own names; the backward half says which chain-rule step each line is
(the statements come from ``writer.py``, ``op_lines.py`` and ``rows.py``). Named dims are read from the arrays at entry, so the kernel is specialised
per dtype only. Gradients of tables used only through ``take`` can be returned as rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from ..version import __version__
from ..ir import Node, Op, describe
from .tiling import plan_tiling
from .entry import wrapped
from .naming import HELPERS, HELPERS_VERSION, display_names
from .rows import scatter_terms
from .schedule import make_schedule
from .stages import Stages
from .writer import Writer


@dataclass(frozen=True)
class KernelSource:
    source: str
    function: str  # the kernel's name in the module
    params: list[Node]  # inputs, in parameter order
    buffers: list[Node]  # then one buffer parameter per array gradient: the input it is for
    # per wrt input: ("value", "") first, then ("scalar" | "buffer" | "rows", input name);
    # the kernel returns the value, each scalar gradient and each rows pair (index, values)
    results: list[tuple[str, str]]
    stages: Stages | None = None  # a staged kernel's three functions (codegen/stages.py)
    # a tiled kernel: (argument, axis) holding its tiled dim (it can be staged, stages.py)
    tiled: tuple[int, int] | None = None


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
    writer = Writer(schedule, display, adjoint_of, flows, lookups)
    writer.staged = staged
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
    arguments = [writer.names[id(p)] for p in params] + [name for _, name in buffers]
    stages = writer.stages and replace(
        writer.stages, prepare=f"{function}_prepare", rows=f"{function}_rows",
        finish=f"{function}_finish", arguments=tuple(arguments))
    tiled = writer.tiling and next(
        (k, axis) for k, (_, shape) in enumerate(writer.holders())
        for axis, d in enumerate(shape) if d == writer.tiling.dim)
    return KernelSource(source, function, params, [w for w, _ in buffers], results, stages,
                        tiled or None)


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
        *([f"For large batches, in three steps: {function}_prepare, {function}_rows over a "
           f"range of rows,", f"{function}_finish (the runtime runs two ranges at once)."]
          if writer.stages else []),
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
    ]
    jit = '@numba.njit(cache=True, nogil=True, error_model="numpy")'
    signature = ", ".join(names)
    if writer.stages is None:
        return "\n".join(head + [jit, f"def {function}({signature}):"] + _indented(body)
                          + _indented([_return(returns)]) + [""])
    stages = writer.stages
    rows, first, last, scalars = writer.stage_lines
    carried = stages.carried

    def define(name, params, doc):
        return [jit, *wrapped(f"def {name}(", params, "):"), f'    """{doc}"""']

    parts = [
        [*define(f"{function}_prepare", names, "Before the tiles: checks the call, computes "
                 "what depends on no row,\n    zeroes the sums over the rows."),
         *_indented(body), *_indented([_return(carried)])],
        [*define(f"{function}_rows", names + carried + [first, last],
                 f"The tiles of rows {first}..{last}: each adds its share into the sums."),
         *_indented(rows)],
        [*define(f"{function}_finish", names + carried + scalars,
                 "After the tiles: what depends on the sums, and the results."),
         *_indented(writer.lines), *_indented([_return(returns)])],
    ]
    return "\n".join(head + [line for part in parts for line in part + ["", ""]]).rstrip() + "\n"


def _indented(lines: list[str]) -> list[str]:
    return ["    " + line if line else "" for line in lines]


def _return(values: list[str]) -> str:
    if not values:
        return "return ()"
    return f"return {', '.join(values)}" + ("," if len(values) == 1 else "")

