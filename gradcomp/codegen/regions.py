"""Long runs of elementwise steps as one loop of scalar statements.

A chain of elementwise maps (``sin``, ``tanh``, ``*``, ``+``...) and its adjoints is, step by
step, one array and one loop each; Numba's compile time grows faster than the number of such
loops (a 200-op chain took 140 s). ``plan_regions`` groups the elementwise steps of one shape
that follow each other in the schedule (other steps that do not read them may sit between)
into a region, with full sums of its values (the loss) accumulated in the same loop; the
region is written as one loop nest whose body computes each step as a scalar, in the same
order and with the same comments, and stores into an array only the values read outside the
region. Forward and backward steps share the loop when nothing between them needs a whole
array (a sum's adjoint is its upstream, not its value).

Regions shorter than ``MIN_REGION`` steps are written step by step, as before. A long kernel's
steps are grouped piece by piece (``pieces.py``), so no region is longer than a piece.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import Node, Op

MIN_REGION = 16  # fewer steps: one loop each, as the small kernels have always been written
ELEMENTWISE = (Op.MAP, Op.BROADCAST)


@dataclass(frozen=True)
class Region:
    shape: tuple
    members: tuple[Node, ...]
    ids: frozenset[int]
    sums: frozenset[int]  # full sums of members, accumulated in the loop


def plan_regions(steps: list[Node], schedule) -> tuple:
    """The steps in emission order, runs of elementwise steps grouped into ``Region``s."""
    items: list = []
    run: list[Node] = []  # the open run: its shape, members, member ids and sums
    shape, ids, sums = None, set(), set()

    def flush():
        if run:
            items.extend([Region(shape, tuple(run), frozenset(ids), frozenset(sums))]
                         if len(run) >= MIN_REGION else run)
        run.clear()
        ids.clear()
        sums.clear()

    for node in steps:
        reads = step_reads(node, schedule)
        if run:
            if _joins(node, shape, sums, reads):
                run.append(node)
                ids.add(id(node))
                if node.op is Op.SUM:
                    sums.add(id(node))
                continue
            if reads & ids:  # needs the region's values as arrays: close it first
                flush()
            else:  # independent of the region: written before its loop
                items.append(node)
                continue
        if node.op in ELEMENTWISE and node.ndim:
            run.append(node)
            ids.add(id(node))
            shape = node.shape
        else:
            items.append(node)
    flush()
    return tuple(items)


def _joins(node: Node, shape: tuple, sums: set[int], reads: set[int]) -> bool:
    if reads & sums:  # a sum is whole only after the loop
        return False
    if node.op in ELEMENTWISE:
        return node.shape == shape
    return (node.op is Op.SUM and node.ndim == 0 and node.args[0].shape == shape
            and len(node.attr("axes")) == len(shape))


def step_reads(node: Node, schedule) -> set[int]:
    """The steps whose values ``node`` reads (through fused expressions and aliases)."""
    found, stack = set(), list(node.args)
    while stack:
        arg = stack.pop()
        if id(arg) in schedule.fused or id(arg) in schedule.aliases \
                or id(arg) in schedule.folded:
            stack.extend(arg.args)
        elif arg.op not in (Op.INPUT, Op.CONST, Op.SIZE):
            found.add(id(arg))
    return found
