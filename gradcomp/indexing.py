"""Which integer inputs index which axes: the bounds every call's indices must respect.

Both the call validator (``runtime/signature.py``) and the generated kernels' own entry check
(``codegen/emit.py``) read the bounds from here, so the two cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from .ir import Dim, Node, Op, toposort

# (op, which argument is the index, which argument holds the indexed axis, which axis)
_INDEXING = {
    Op.TAKE: (1, 0, 0),
    Op.SCATTER_ADD: (1, None, 0),  # bound is the node's own first dim
    Op.PICK: (1, 0, 1),
    Op.UNPICK: (1, None, 1),
}


@dataclass(frozen=True)
class IndexCheck:
    input_name: str
    bound: Dim  # indices must lie in [0, bound)
    what: str  # names the indexed thing in the error


def index_checks(order: list[Node]) -> list[IndexCheck]:
    """One check per (int input, bound) pair among the indexing nodes of ``order``."""
    checks: dict[tuple, IndexCheck] = {}
    for node in order:
        if node.op not in _INDEXING:
            continue
        index_arg, table_arg, axis = _INDEXING[node.op]
        holder = node if table_arg is None else node.args[table_arg]
        bound = holder.shape[axis]
        what = f"axis {axis} of {holder.name!r}" if holder.op is Op.INPUT else (
            f"the {bound} {'rows' if axis == 0 else 'columns'} of the indexed array")
        for leaf in toposort([node.args[index_arg]]):
            if leaf.op is Op.INPUT:
                checks.setdefault((leaf.name, bound), IndexCheck(leaf.name, bound, what))
    return list(checks.values())
