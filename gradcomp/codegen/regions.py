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

Regions shorter than ``MIN_REGION`` steps are written step by step, as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..ir import Node, Op

MIN_REGION = 16  # fewer steps: one loop each, as the small kernels have always been written
ELEMENTWISE = (Op.MAP, Op.BROADCAST)


@dataclass
class Region:
    shape: tuple
    members: list[Node] = field(default_factory=list)
    ids: set[int] = field(default_factory=set)
    sums: set[int] = field(default_factory=set)  # full sums of members, accumulated in the loop

    def add(self, node: Node, is_sum: bool = False) -> None:
        self.members.append(node)
        self.ids.add(id(node))
        if is_sum:
            self.sums.add(id(node))


def plan_regions(steps: list[Node], schedule) -> list:
    """The steps in emission order, runs of elementwise steps grouped into ``Region``s."""
    items: list = []
    region: Region | None = None

    def flush():
        nonlocal region
        if region is not None:
            items.extend([region] if len(region.members) >= MIN_REGION else region.members)
        region = None

    for node in steps:
        reads = _reads(node, schedule)
        if region is not None:
            if _joins(node, region, reads):
                region.add(node, is_sum=node.op is Op.SUM)
                continue
            if reads & region.ids:  # needs the region's values as arrays: close it first
                flush()
            else:  # independent of the region: written before its loop
                items.append(node)
                continue
        if node.op in ELEMENTWISE and node.ndim:
            region = Region(node.shape)
            region.add(node)
        else:
            items.append(node)
    flush()
    return items


def _joins(node: Node, region: Region, reads: set[int]) -> bool:
    if reads & region.sums:  # a sum is whole only after the loop
        return False
    if node.op in ELEMENTWISE:
        return node.shape == region.shape
    return (node.op is Op.SUM and node.ndim == 0 and node.args[0].shape == region.shape
            and len(node.attr("axes")) == len(region.shape))


def _reads(node: Node, schedule) -> set[int]:
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


class RegionLines:
    """Writes a region as one loop nest of scalar statements, mixed into ``Writer``."""

    def emit_region(self, region: Region, label: str) -> None:
        members = region.members
        roots = self.schedule.roots
        outside = {id(m) for m in members if id(m) in roots or id(m) in self.buffers
                   or any(id(c) not in region.ids for c in self._consumers(m))}
        self.lines += ["", f"# one loop over {self.shape(region.shape)} for the {len(members)} "
                           "steps below, each a scalar; stored: "
                           + (", ".join(self.name(m) for m in members
                                        if id(m) in outside and id(m) not in region.sums)
                              or "nothing")]
        for m in members:
            name = self.name(m)
            if id(m) in region.sums:
                self.lines.append(f"{name} = 0.0")
            elif id(m) in outside and id(m) not in self.buffers:
                self.lines.append(f"{name} = np.empty({self.shape(m.shape)}, dt)")
        loop_vars, heads = self._loops(region.shape)
        body, self.lines = self.lines, []
        index = ", ".join(loop_vars)
        for m in members:
            self.header(m, label)
            self._comment(m)
            if id(m) in region.sums:
                value = self.access(m.args[0], loop_vars, region.shape)
                self.lines.append(f"{self.name(m)} += {value}")
                continue
            value = self._value_expr(m, loop_vars, region.shape)
            scalar = self.namer.fresh(self.name(m) + "_i") if id(m) in outside else self.name(m)
            self.lines.append(f"{scalar} = {value}")
            if id(m) in outside:
                self.lines.append(f"{self.name(m)}[{index}] = {scalar}")
            self.in_loop[id(m)] = scalar
        inner, self.lines = self.lines, body
        self.lines += heads + ["    " * len(loop_vars) + line if line else "" for line in inner]
        self.in_loop = {}

    def _consumers(self, node: Node) -> list[Node]:
        """The steps that read ``node``, through the fused expressions that inline it."""
        found, stack = [], list(self.schedule.users[id(node)])
        while stack:
            user = stack.pop()
            if id(user) in self.schedule.fused or id(user) in self.schedule.aliases:
                stack.extend(self.schedule.users[id(user)])
            else:
                found.append(user)
        return found
