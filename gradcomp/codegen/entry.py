"""The first lines of every kernel: what it checks before it reads any input.

Named dims are read from the arrays; then one condition refuses the call (``CallRejected``) if
any array's dims differ from the declared ones, a named dim is 0, an index lies outside the
axis it indexes, or a gradient buffer overlaps another array. A refused call has read nothing;
the caller re-validates it in Python to name the offending input (``runtime/compiled.py``).

The condition joins its parts with ``|``, not ``or``: each check reads only its own array, so
all of them can run, and the kernel then branches once. With ``or``, each part is a branch
LLVM weighs 50/50, and after the twenty-odd of the window classifier it took the whole body
for a path almost never run: it left the tanh helper a call per element (not inlined, not
vectorised) and placed registers as for cold code (``tests/test_codegen.py``).
"""

from __future__ import annotations

from ..indexing import index_checks
from .scope import Scope, dim, flat_index, helper_int


def binding_lines(plan) -> list[str]:
    """``B = windows.shape[0]``: each named dim read from the array that first holds it."""
    return [f"{v} = {array}.shape[{axis}]" for v, array, axis in plan.dim_bindings]


def entry_lines(plan, scope: Scope) -> list[str]:
    """The kernel's entry lines: the named dims read from the arrays, then the check."""
    holders = plan.holders()
    lines = binding_lines(plan)
    if lines:
        lines.insert(0, "# named dims, read from the arrays (one kernel serves every size)")
    bound_by = {(array, axis) for _, array, axis in plan.dim_bindings}
    wrong: list[str] = []  # what makes the kernel refuse the call, one line per array
    for var, shape in holders:
        conditions = [f"{var}.shape[{axis}] != {dim(scope, d)}" for axis, d in enumerate(shape)
                      if (var, axis) not in bound_by]
        if conditions:
            wrong.append(" | ".join(f"({c})" for c in conditions))
    if plan.dims:
        wrong.insert(0, " | ".join(f"({v} == 0)" for v in plan.dims.values()))
    for check in index_checks(plan.schedule.order):
        index = next(n for n in plan.params if n.name == check.input_name)
        bound = helper_int(scope, check.bound)
        var = plan.names[id(index)]
        wrong.append(f"(not (0 <= {var} < {bound}))" if index.ndim == 0 else
                     f"(not in_range({flat_index(plan, scope, index)}, {bound}))")
    buffers = len(plan.buffer_params)
    if buffers:
        arrays = [var for var, shape in holders if shape]
        starts, sizes = plan.overlap
        lines += [
            "",
            "# where each array lives (the caller's gradient buffers, last, must overlap none)",
            *wrapped(f"{starts} = (", [f"{v}.ctypes.data" for v in arrays], ")"),
            *wrapped(f"{sizes} = (", [f"{v}.nbytes" for v in arrays], ")"),
        ]
        wrong.append(f"(overlaps({starts}, {sizes}, {helper_int(scope, buffers)}))")
    if not wrong:
        return lines
    explain = (["# check the call before reading any input: every dim as declared, every index in "
                "range,", "# no gradient buffer overlapping another array. CallRejected sends the "
                "call back to", "# gradcomp's validator, which names the offending input."]
               if buffers else
               ["# check the call before reading any input: every dim as declared, every index in "
                "range.", "# CallRejected sends the call back to gradcomp's validator, which "
                "names the", "# offending input."])
    explain.append("# Parts joined by |, not or: one branch (after many, LLVM takes the body "
                   "for a rare path).")
    return lines + [
        "",
        *explain,
        "if (",
        *(f"    {'| ' if k else ''}{line}" for k, line in enumerate(wrong)),
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
