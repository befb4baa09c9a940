"""The printer's steps: section headers, the comment of each step, its statements, regions.

``steps_lines`` prints planned steps in order: a header where the forward steps end and the
backward ones (the adjoints) begin, then per step a comment in the kernel's own names
(``# h = tanh(z)  (B, 100)``; a backward step says which chain-rule rule made it,
``[tanh: upstream x local, into z]``; fused parts follow, one line each) and its statements
(``op_lines.py``). A region (``regions.py``) is one loop nest whose body computes each of its
steps as a scalar, under the same headers and comments.
"""

from __future__ import annotations

from dataclasses import replace

from ..ir import Node, Op, format_shape
from .names import fused_parts
from .op_lines import OP_LINES
from .printer import print_scalar
from .regions import Region
from .scope import (
    Scope,
    access,
    dim,
    loops,
    new_array,
    shape_text,
    shown,
    tuple_text,
    value_expr,
    var,
)


def steps_lines(plan, scope: Scope, items, label: str) -> list[str]:
    """The lines of ``items`` (nodes and regions), ``label`` naming the part of the kernel
    in the section headers (``", of the tile"``)."""
    lines: list[str] = []
    section = None  # printing backward steps: True, forward: False, nothing yet: None
    for item in items:
        if isinstance(item, Region):
            more, section = _region_lines(plan, scope, item, label, section)
            lines += more
            continue
        head, section = _header(plan, item, label, section)
        lines += head + comment_lines(plan, scope, item) + _step_lines(plan, scope, item)
    return lines


def _header(plan, node: Node, label: str, section) -> tuple[list[str], bool]:
    backward = not plan.schedule.is_forward(node)
    if backward == section:
        return [], section
    return ["", (f"# --- backward{label}: adjoints in reverse topological order; "
                 "downstream = upstream x local ---") if backward
            else f"# --- forward{label}: the loss, one step per node ---"], backward


def comment_lines(plan, scope: Scope, node: Node) -> list[str]:
    """``# h = tanh(z)  (B, 100)``, with the rule of a backward step and the fused parts."""
    lines = []
    for part in fused_parts(plan.schedule, node):
        args = [shown(plan, scope, a) for a in part.args]
        if part.op is Op.MAP:
            rhs = print_scalar(part.attr("fn").expr, args)
        else:
            extra = [f"{k}={v}" for k, v in part.attrs if k not in ("fn", "label", "name")]
            rhs = f"{part.label}({', '.join(args + extra)})"
        # a step computed into a temporary is named in its comment by the buffer it fills
        own = plan.buffers[id(part)] if id(part) in plan.temps else shown(plan, scope, part)
        text = f"{own} = {rhs}  {format_shape(part.shape)}" + _rule(plan, scope, part)
        lines.append(("# " if part is node else "#   fused: ") + text)
    return lines


def _rule(plan, scope: Scope, node: Node) -> str:
    if plan.schedule.is_forward(node):
        return ""
    if id(node) in plan.flows:
        user, arg = plan.flows[id(node)]
        return f"  [{user.label}: upstream x local, into {shown(plan, scope, arg)}]"
    if id(node) in plan.adjoint_of and node.op is Op.MAP:
        primal = shown(plan, scope, plan.adjoint_of[id(node)])
        return f"  [the gradients flowing into {primal}, added]"
    return ""


def _step_lines(plan, scope: Scope, node: Node) -> list[str]:
    lines = OP_LINES[node.op](plan, scope, node, scope.names[id(node)])
    if id(node) in plan.temps:
        buffer, temp = plan.buffers[id(node)], plan.temps[id(node)]
        lines += [f"# {buffer}: into the caller's buffer",
                  *_copy_lines(scope, buffer, node.shape, lambda i, _: f"{temp}[{i}]")]
    return lines


def _copy_lines(scope: Scope, buffer: str, shape, element) -> list[str]:
    """``buffer[...] = ...`` as a loop nest; ``element(index, loop_vars)`` is what goes in at
    ``index``. (Numba's ``buffer[:] = x`` compiles its broadcasting error messages into the
    kernel: 5-7 s of compiling on a 2-core machine, against under 1 s for the loop.)"""
    loop_vars, heads = loops(scope, shape)
    index = ", ".join(loop_vars)
    return [*heads, "    " * len(heads) + f"{buffer}[{index}] = {element(index, loop_vars)}"]


def _region_lines(plan, scope: Scope, region: Region, label: str, section):
    members = region.members
    stored = plan.region_scalars
    names = scope.names
    block = plan.saved_blocks.get(id(region))
    saved = [m for m in members if id(m) in plan.saved]  # (only a region with a block)
    lines = [""] + _wrapped_comment(
        f"one loop over {shape_text(scope, region.shape)} for the {len(members)} steps below, "
        "each a scalar; stored: " + (", ".join(
            names[id(m)] for m in members if id(m) in stored and id(m) not in plan.saved)
            or "nothing")
        + (f"; kept for later loops, one column each of {block[0]}: "
           + ", ".join(names[id(m)] for m in saved) if saved else ""))
    for m in members:
        if id(m) in region.sums:
            lines.append(f"{names[id(m)]} = 0.0")
        elif id(m) in stored and id(m) not in plan.buffers and id(m) not in plan.saved:
            lines.append(f"{names[id(m)]} = {new_array(shape_text(scope, m.shape))}")
    loop_vars, heads = loops(scope, region.shape)
    index = ", ".join(loop_vars)
    inner: list[str] = []
    if block:
        extents = [dim(scope, d) for d in region.shape] + [str(block[2])]
        lines.append(f"{block[0]} = {new_array(tuple_text(extents))}")
        inner.append(f"{block[1]} = {block[0]}[{index}]  # this element's saved columns")
    loads = plan.region_loads.get(id(region), ())
    inner += _load_lines(plan, scope, loads, loop_vars, region.shape)
    inner_scope = replace(scope, in_loop={
        **{id(n): scalar for n, scalar in loads},
        **{id(m): stored.get(id(m), names[id(m)]) for m in members if id(m) not in region.sums}})
    for m in members:
        head, section = _header(plan, m, label, section)
        inner += head + comment_lines(plan, scope, m)
        if id(m) in region.sums:
            value = access(plan, inner_scope, m.args[0], loop_vars, region.shape)
            inner.append(f"{names[id(m)]} += {value}")
            continue
        scalar = stored.get(id(m), names[id(m)])
        inner.append(f"{scalar} = {value_expr(plan, inner_scope, m, loop_vars, region.shape)}")
        if id(m) in plan.saved:
            inner.append(f"{block[1]}[{plan.saved[id(m)][2]}] = {scalar}")
        elif id(m) in stored:
            inner.append(f"{names[id(m)]}[{index}] = {scalar}")
    pad = "    " * len(loop_vars)
    return lines + heads + [pad + line if line else "" for line in inner], section


def _load_lines(plan, scope: Scope, loads, loop_vars, shape) -> list[str]:
    """The top of a region's loop body: each array it reads, read once; an earlier region's
    saved columns through that block's row of this element."""
    lines, rows = [], set()
    for node, scalar in loads:
        if id(node) in plan.saved and len(node.shape) == len(shape):
            block, row, column = plan.saved[id(node)]
            if block not in rows:
                rows.add(block)
                lines.append(f"{row} = {block}[{', '.join(loop_vars)}]  # {block}'s row here")
            lines.append(f"{scalar} = {row}[{column}]  # {scope.names[id(node)]}")
        else:
            lines.append(f"{scalar} = {access(plan, scope, node, loop_vars, shape)}  "
                         f"# {scope.names[id(node)]}, read once")
    return lines


def _wrapped_comment(text: str, width: int = 96) -> list[str]:
    """``text`` as comment lines of at most ``width`` characters, broken at spaces."""
    lines, line = [], "#"
    for word in text.split(" "):
        if len(line) + 1 + len(word) > width and line != "#":
            lines.append(line)
            line = "#  "
        line += " " + word
    return lines + [line]


def _fill_copy_lines(plan, scope: Scope, buffer: str, node: Node) -> list[str]:
    """Copy ``node`` into the caller's buffer (a gradient that is a constant, an input, a
    forward value or another input's gradient)."""
    what = shown(plan, scope, node) if id(node) in plan.ids else "a constant"
    shape = dict(plan.buffer_params)[buffer]
    return [f"# {buffer} is {what} itself, copied into the caller's buffer",
            *_copy_lines(scope, buffer, shape,
                         lambda _, loop_vars: access(plan, scope, node, loop_vars, shape))]


def results_lines(plan, scope: Scope, rows: list[str] = ()) -> list[str]:
    """After the steps: the buffers filled by copies, the ``rows`` lines (an untiled
    kernel's row gradients), the scalar results given a variable of their own."""
    lines = [line for buffer, node in plan.copies
             for line in _fill_copy_lines(plan, scope, buffer, node)]
    return lines + list(rows) + [f"{name} = {var(plan, scope, node)}"
                                 for name, node in plan.scalar_copies]
