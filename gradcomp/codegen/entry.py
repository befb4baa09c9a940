"""The first lines of every kernel: what it checks before it reads any input.

Named dims are read from the arrays; then one condition refuses the call (``CallRejected``) if
any array's dims differ from the declared ones, a named dim is 0, an index lies outside the
axis it indexes, or a gradient buffer overlaps another array. A refused call has read nothing;
the caller re-validates it in Python to name the offending input (``runtime/compiled.py``).
"""

from __future__ import annotations

from ..indexing import index_checks
from ..ir import Node, is_product


def entry_lines(writer, inputs: list[Node]) -> list[str]:
    """The kernel's entry lines; binds ``writer.dims`` to the variables holding named dims."""
    lines: list[str] = []
    holders = [(writer.names[id(n)], n.shape) for n in inputs] + writer.buffer_params
    wrong: list[str] = []  # what makes the kernel refuse the call, one line per array
    bound_by: set[tuple[str, int]] = set()  # (array, axis) a named dim was read from
    for var, shape in holders:  # single names first: products ("B*T") are checked below
        for axis, d in enumerate(shape):
            if isinstance(d, str) and not is_product(d) and d not in writer.dims:
                if not writer.dims:
                    lines.append("# named dims, read from the arrays (one kernel serves every size)")
                writer.dims[d] = writer.namer.fresh(d)
                lines.append(f"{writer.dims[d]} = {var}.shape[{axis}]")
                writer.dim_lines.append(lines[-1])
                bound_by.add((var, axis))
    for var, shape in holders:
        conditions = [f"{var}.shape[{axis}] != {writer.dim(d)}" for axis, d in enumerate(shape)
                      if (var, axis) not in bound_by]
        if conditions:
            wrong.append(" or ".join(conditions))
    if writer.dims:
        wrong.insert(0, " or ".join(f"{v} == 0" for v in writer.dims.values()))
    for check in index_checks(writer.schedule.order):
        index = next(n for n in inputs if n.name == check.input_name)
        bound = writer.helper_int(check.bound)
        var = writer.names[id(index)]
        wrong.append(f"not (0 <= {var} < {bound})" if index.ndim == 0 else
                     f"not in_range({writer.flat_index(index)}, {bound})")
    buffers = len(writer.buffer_params)
    if buffers:
        arrays = [var for var, shape in holders if shape]
        starts, sizes = writer.namer.fresh("starts"), writer.namer.fresh("sizes")
        lines += [
            "",
            "# where each array lives (the caller's gradient buffers, last, must overlap none)",
            *wrapped(f"{starts} = (", [f"{v}.ctypes.data" for v in arrays], ")"),
            *wrapped(f"{sizes} = (", [f"{v}.nbytes" for v in arrays], ")"),
        ]
        wrong.append(f"overlaps({starts}, {sizes}, {writer.helper_int(buffers)})")
    if not wrong:
        return lines
    explain = (["# check the call before reading any input: every dim as declared, every index in "
                "range,", "# no gradient buffer overlapping another array. CallRejected sends the "
                "call back to", "# gradcomp's validator, which names the offending input."]
               if buffers else
               ["# check the call before reading any input: every dim as declared, every index in "
                "range.", "# CallRejected sends the call back to gradcomp's validator, which "
                "names the", "# offending input."])
    return lines + [
        "",
        *explain,
        "if (",
        *(f"    {'or ' if k else ''}{line}" for k, line in enumerate(wrong)),
        "):",
        "    raise CallRejected()",
        "",
    ]


def wrapped(head: str, items: list[str], tail: str, width: int = 92) -> list[str]:
    """``head`` + comma-separated ``items`` + ``tail``, continued under the first item."""
    lines, line = [], head
    for k, item in enumerate(items):
        piece = item + (", " if k < len(items) - 1 else tail)
        if len(line) + len(piece.rstrip()) > width and line.strip() != head.strip():
            lines.append(line.rstrip())
            line = " " * len(head)
        line += piece
    return lines + [line]
