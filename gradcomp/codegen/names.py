"""The name of every variable of a kernel, given in the order the kernel reads.

``NameWalk`` walks the planned steps in the order they are printed and gives each value its
variable the first time the kernel mentions it: the inputs by their names, the loss ``loss``,
the adjoint of ``h`` ``d_h`` (``d_`` and ``h``'s own variable), a contribution flowing back
from one user ``d_h_from_<op>``, any other node its display name (``naming.display_names``);
then the temporaries, the tile loop's variables, the row blocks' and the regions' scalars.
Walking in print order keeps the counters of repeated names (``d_h_2``) in reading order.
The walk belongs to ``make_plan``: what it gives is frozen into the plan.
"""

from __future__ import annotations

from ..ir import Node, Op
from .naming import Namer
from .regions import Region

# Ops whose step can write straight into the caller's gradient buffer (others copy into it).
IN_PLACE = frozenset({Op.MAP, Op.BROADCAST, Op.SUM, Op.MAX, Op.MATMUL, Op.SCATTER_ADD,
                      Op.TRANSPOSE})


def fused_parts(schedule, node: Node) -> list[Node]:
    """``node`` and the nodes fused into its loop, in the order its comment lists them."""
    parts, stack = [], [node]
    while stack:
        current = stack.pop()
        parts.append(current)
        stack.extend(a for a in reversed(current.args) if id(a) in schedule.fused)
    return parts


class NameWalk:
    def __init__(self, schedule, display: dict[int, str], adjoint_of, flows):
        self.schedule = schedule
        self.display = display
        self.adjoint_of = adjoint_of
        self.flows = flows
        self.namer = Namer()
        self.names: dict[int, str] = {}
        self.temps: dict[int, str] = {}
        self.region_scalars: dict[int, str] = {}
        self.region_loads: dict[int, tuple] = {}
        self.saved: dict[int, tuple[str, str, int]] = {}
        self.saved_blocks: dict[int, tuple[str, str, int]] = {}
        self.scalar_copies: list[tuple[str, Node]] = []
        for node in schedule.order:
            if node.op is Op.INPUT:
                self.names[id(node)] = self.namer.fresh(node.name)

    def fresh(self, wanted: str) -> str:
        return self.namer.fresh(wanted)

    def name(self, node: Node, wanted: str | None = None) -> str:
        """The variable of ``node``, given on first use."""
        if id(node) not in self.names:
            if wanted is None and not self.schedule.is_forward(node):
                primal = self.adjoint_of.get(id(node))
                flow = self.flows.get(id(node))
                if primal is not None:
                    wanted = "d_" + self.name(primal)
                elif flow is not None:
                    wanted = f"d_{self.name(flow[1])}_from_{flow[0].label}"
            self.names[id(node)] = self.namer.fresh(wanted or self.display[id(node)])
        return self.names[id(node)]

    def _mention(self, node: Node) -> None:
        """A comment mentions ``node`` (``scope.shown``): what it names, named."""
        schedule = self.schedule
        if node.op in (Op.CONST, Op.SIZE):
            return
        if id(node) in schedule.aliases:
            if node.ndim:
                self._mention(node.args[0])
        elif id(node) in schedule.folded:
            self._mention(node.args[0])
        else:
            self.name(node)

    def _comment(self, node: Node) -> None:
        """The names a step's comment gives: its own, its fused parts', the rule's."""
        self.name(node)
        for part in fused_parts(self.schedule, node):
            for a in part.args:
                self._mention(a)
            self._mention(part)
            if self.schedule.is_forward(part):
                continue
            if id(part) in self.flows:
                self._mention(self.flows[id(part)][1])
            elif id(part) in self.adjoint_of and part.op is Op.MAP:
                self._mention(self.adjoint_of[id(part)])

    def steps(self, items, buffers: dict[int, str], stored, sliced=None) -> None:
        """Name the steps ``items`` (nodes and regions) in print order; ``sliced``: inside
        the tiles, the row inputs go by their slices' names."""
        saved = {k: self.names[k] for k in sliced or {}}
        self.names.update(sliced or {})
        for item in items:
            if isinstance(item, Region):
                self._region(item, buffers, stored)
                continue
            self._comment(item)
            buffer = buffers.get(id(item))
            if buffer is not None and item.op not in IN_PLACE and not (
                    item.op is Op.RESHAPE and item.args[0].ndim == 0):
                self.names[id(item)] = self.temps[id(item)] = self.fresh(self.display[id(item)])
        self.names.update(saved)

    def _region(self, region: Region, buffers, outside) -> None:
        """A region's names: its steps', the scalars of those read outside it, the saved
        block of those only later regions read, and the scalars of what it reads from
        outside (each element read once, at the top of the loop body)."""
        stored, kept = outside
        members = region.members
        out = {id(m) for m in members if id(m) not in region.sums and stored(m, region)}
        for m in members:
            if id(m) in out:
                self.name(m)
        for m in members:
            self.name(m)
        for m in members:
            self._comment(m)
            if id(m) in out:
                self.region_scalars[id(m)] = self.fresh(self.names[id(m)] + "_i")
        columns = [m for m in members if id(m) in out and kept(m)]
        if len(columns) > 1:
            block = self.fresh("saved")
            row = self.fresh(block + "_row")
            self.saved_blocks[id(region)] = (block, row, len(columns))
            self.saved.update({id(m): (block, row, k) for k, m in enumerate(columns)})
        self.region_loads[id(region)] = tuple(
            (n, self.fresh(self.names[id(n)] + "_i")) for n in _loaded(self.schedule, region))

    def copies(self, copies) -> None:
        """A buffer filled by a copy says what it copies (a constant goes unnamed)."""
        for _, node in copies:
            if id(node) in self.schedule.users:
                self._mention(node)

    def row_block(self, table: Node, terms: list[Node], per_lookup: bool):
        """A table's row gradient: its (slot, index, rows) variables (no slot per lookup)."""
        base = f"d_{table.name}"
        names = (None if per_lookup else self.fresh(base + "_slot"),
                 self.fresh(base + "_index"), self.fresh(base + "_rows"))
        for t in terms:
            self._mention(t.args[0])
            self._mention(t.args[1])
        return names

    def tile(self, tiling):
        """The tile loop's (start, stop, row count) variables and each row input's slice."""
        start, stop = self.fresh("start"), self.fresh("stop")
        rows = self.fresh(tiling.dim + "_tile")
        return start, stop, rows, {id(n): self.fresh(self.names[id(n)] + "_tile")
                                   for n in tiling.row_inputs}

    def scalar_result(self, node: Node, wanted: str) -> str:
        """A variable holding the 0-d ``node`` (a gradient that is a constant, an input or a
        forward value gets one of its own)."""
        if id(node) in self.names and not self.schedule.is_forward(node) \
                and node.op is not Op.INPUT:
            return self.names[id(node)]
        name = self.fresh(wanted)
        self.scalar_copies.append((name, node))
        return name


def _loaded(schedule, region: Region) -> list[Node]:
    """The arrays a region's loop reads element by element that it does not compute."""
    found: dict[int, Node] = {}
    stack = [a for m in reversed(region.members) for a in reversed(m.args)]
    while stack:
        arg = stack.pop()
        if id(arg) in schedule.fused:
            stack.extend(reversed(arg.args))
        elif (arg.ndim and id(arg) not in region.ids and id(arg) not in schedule.aliases
              and id(arg) not in schedule.folded and arg.op not in (Op.CONST, Op.SIZE)):
            found.setdefault(id(arg), arg)
    return list(found.values())
