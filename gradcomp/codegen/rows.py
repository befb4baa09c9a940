"""Row gradients in the kernel: a table used only through ``take`` gets its gradient as
rows, one per distinct row looked up (summed) or one per lookup (``rows="lookups"``).

The plan's ``RowBlock`` holds the variables of one table's rows (``plan.scatter_terms`` finds
the scatters whose sum is such a gradient); the printer's functions here write the lines
that make the rows (``setup_lines``), put each lookup's adjoint in (``scatter_lines``) and, in
the tiles, let the product that gives the lookups' adjoint write straight into them
(``row_targets``).
"""

from __future__ import annotations

from ..ir import Op
from .scope import (
    Scope,
    count,
    dim,
    fill_lines,
    flat_index,
    new_array,
    reshaped,
    shape_text,
    shown,
    var,
)


def setup_lines(plan, scope: Scope, block) -> list[str]:
    """Lines that find a table's looked-up rows and make their gradient rows: one per
    distinct row, zeroed (summed into by ``scatter_lines``), or one per lookup."""
    terms, width = block.terms, count(scope, block.table.shape[1:])
    lookups = [flat_index(plan, scope, t.args[1]) for t in terms]
    joined = lookups[0] if len(lookups) == 1 else f"np.concatenate(({', '.join(lookups)}))"
    ids = ", ".join(f"{shown(plan, scope, t.args[0])} at {shown(plan, scope, t.args[1])}"
                    for t in terms)
    head = f"# gradient of {var(plan, scope, block.table)} as rows (scatter_add of {ids}):"
    if block.slot is None:
        total = " + ".join(count(scope, t.args[1].shape) for t in terms)
        return [
            "", head, "# one row per lookup, in lookup order, not summed (a row looked up "
            "twice comes", "# twice); nothing of size V is touched",
            f"{block.index} = {joined}" + (".copy()" if len(lookups) == 1 else ""),
            f"{block.rows} = {new_array(f'({total}, {width})')}",
        ]
    return [
        "", head + " the looked-up rows,",
        "# each with the sum of its lookups' adjoints; nothing of size V is touched",
        f"{block.slot}, {block.index} = row_slots({joined})",
        f"{block.rows} = {new_array(f'({block.index}.shape[0], {width})')}",
        *fill_lines(block.rows, [f"{block.index}.shape[0]", width], "0.0"),
    ]


def _term_spans(scope: Scope, block):
    """Each term of ``block`` with its lookup count and its span ``(first, last)`` in the
    lookup order (in the tiles: the current tile's lookups)."""
    start = "0"
    for term in block.terms:
        term_index = term.args[1]
        n = count(scope, term_index.shape)
        if scope.tile is not None:  # this tile's lookups: rows start..stop of the index
            per_row = count(scope, term_index.shape[1:])
            whole = " * ".join(scope.full_dims.get(d, dim(scope, d)) if isinstance(d, str)
                               else str(d) for d in term_index.shape)
            span = [f"{bound} * {per_row}" if start == "0" else
                    f"{start} + {bound} * {per_row}" for bound in scope.tile]
        else:
            whole = n
            span = [start, f"{start} + {n}"]
        yield term, n, span
        start = whole if start == "0" else f"{start} + {whole}"


def row_targets(plan, scope: Scope) -> dict[int, str]:
    """In the tiles: products whose result is a tile's rows of a per-lookup gradient
    (``d_x = d_z @ W``, read only as the lookups' adjoint), by the view they write into."""
    users = plan.schedule.users
    targets = {}
    for block in plan.row_blocks:
        if block.slot is not None:
            continue
        for term, n, (first, last) in _term_spans(scope, block):
            product = term.args[0]
            if product.op is Op.RESHAPE and users[id(product.args[0])] == (product,):
                product = product.args[0]
            if product.op is Op.MATMUL and product.ndim == 2 and all(
                    u is term for u in users[id(term.args[0])]):
                targets[id(product)] = reshaped(f"{block.rows}[{first}:{last}]",
                                                shape_text(scope, product.shape))
    return targets


def scatter_lines(plan, scope: Scope, block) -> list[str]:
    """Lines that put each lookup's adjoint into its row (the current tile's lookups):
    added into its distinct row, or copied to its own (unless computed there)."""
    lines = []
    width = count(scope, block.table.shape[1:])
    if scope.tile is not None:
        how = "added" if block.slot is not None else "copied"
        lines.append(f"# this tile's lookups, {how} into their rows of {block.rows}")
    for term, n, (first, last) in _term_spans(scope, block):
        values = term.args[0]
        values_2d = reshaped(var(plan, scope, values), f"({n}, {width})")
        if block.slot is not None:
            part = block.slot if len(block.terms) == 1 and scope.tile is None else \
                f"{block.slot}[{first}:{last}]"
            lines.append(f"scatter_rows({block.rows}, {part}, {values_2d})")
        elif any(id(v) in scope.in_rows for v in (values, *values.args[:1])):
            lines.append(f"#   {var(plan, scope, values)} was computed in them")
        else:
            lines.append(f"{block.rows}[{first}:{last}] = {values_2d}")
    return lines
