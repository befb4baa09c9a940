"""The kernel body's writer: names, array access, the steps in order (tiled or not).

``Writer`` holds what one kernel's statements share (the schedule, the names given so far,
the dims' variables, the lines written) and walks the scheduled steps: the forward section,
then the backward one, inside the row tiles when the graph is tiled. The statements of each
op come from ``OpLines`` (``ops.py``), those of row gradients from ``RowLines`` (``rows.py``).
"""

from __future__ import annotations

from ..ir import FLOAT, Node, Op, format_shape, is_product, node_ids
from .entry import entry_lines
from .naming import Namer
from .op_lines import OpLines
from .printer import print_scalar
from .regions import Region, RegionLines, plan_regions
from .rows import RowBlock, RowLines
from .stages import Stages, TiledStages
from .schedule import Schedule
from .tiling import Tiling

# Ops whose step can write straight into the caller's gradient buffer (others copy into it).
_IN_PLACE = frozenset({Op.MAP, Op.BROADCAST, Op.SUM, Op.MAX, Op.MATMUL, Op.SCATTER_ADD})


class Writer(OpLines, RowLines, TiledStages, RegionLines):
    """Emits the statements of one kernel body, node by node."""

    def __init__(self, schedule: Schedule, display: dict[int, str],
                 adjoint_of: dict[int, Node], flows: dict[int, tuple[Node, Node]],
                 lookups: set[str] = frozenset()):
        self.schedule = schedule
        self.lookups = lookups  # tables whose gradient is one row per lookup (unsummed)
        self.display = display  # a readable name per node (naming.display_names)
        self.adjoint_of = adjoint_of  # adjoint id -> its primal
        self.flows = flows  # contribution id -> (user, argument): the rule that made it
        self.ids = node_ids(schedule.order)
        self.namer = Namer()
        self.names: dict[int, str] = {}
        self.dims: dict[str, str] = {}
        self.lines: list[str] = []
        self.buffers: dict[int, str] = {}  # node id -> the caller's buffer it is written into
        self.buffer_params: list[tuple[str, tuple]] = []  # (parameter, shape) of each buffer
        self.row_tables: list[tuple[Node, list[Node]]] = []  # tables with row gradients
        self.row_blocks: dict[str, RowBlock] = {}
        self.in_rows: dict[int, str] = {}  # in the tiles: products written into gradient rows
        self.tiling: Tiling | None = None
        self.tile: tuple[str, str] | None = None  # (start, stop) variables inside the tiles
        self.first_row = ""  # inside the tiles: the variable of the first row of this call's
        self.in_loop: dict[int, str] = {}  # inside a region's loop: each step's scalar
        self._section: bool | None = None  # writing backward steps (the section headers)
        self.staged = False  # a tiled kernel written as three functions (stages.py)
        self.stages: Stages | None = None  # ... and what the runtime needs to know of them
        self.dim_lines: list[str] = []  # ``B = windows.shape[0]``: each named dim's binding
        self.full_dims: dict[str, str] = {}  # inside the tiles: the whole batch's dims
        for node in schedule.order:
            if node.op is Op.INPUT:
                self.names[id(node)] = self.namer.fresh(node.name)

    # ------------------------------------------------------------ naming and access

    def name(self, node: Node, wanted: str | None = None) -> str:
        """The variable of ``node``, allocated on first use: the adjoint of ``h`` is ``d_`` and
        ``h``'s own variable (``d_h_2`` for the second ``h``); others by their display name."""
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

    def dim(self, d) -> str:
        if isinstance(d, int):
            return str(d)
        if is_product(d):  # "B*T": the product of the variables holding B and T
            return "(" + " * ".join(f if f.isdigit() else self.dims[f] for f in d.split("*")) + ")"
        return self.dims[d]

    def helper_int(self, d) -> str:
        """A dim (or count) passed to a helper: a fixed one as ``np.int64(n)``, since Numba
        compiles a helper afresh for every distinct literal int it is called with."""
        return f"np.int64({d})" if isinstance(d, int) else self.dim(d)

    def shape(self, shape) -> str:
        inner = ", ".join(self.dim(d) for d in shape)
        return f"({inner},)" if len(shape) == 1 else f"({inner})"

    def count(self, shape) -> str:
        return " * ".join(self.dim(d) for d in shape) if shape else "1"

    def access(self, node: Node, loop_vars: list[str], loop_shape: tuple) -> str:
        """How the loop body at ``loop_vars`` reads ``node``: a name, an element, an expression."""
        if node.op is Op.CONST:
            return repr(node.attr("value"))
        if id(node) in self.in_loop:  # a step of the region being written: its scalar
            return self.in_loop[id(node)]
        if id(node) in self.schedule.aliases:  # a scalar in a shape of ones: the scalar
            return self.access(node.args[0], [], ())
        if node.op is Op.SIZE:
            dims = {**self.dims, **self.full_dims}  # a size is the whole batch's, in tiles too
            return f"float({' * '.join(dims[d] for d in node.attr('dims'))})"
        if id(node) in self.schedule.fused:
            return self._value_expr(node, loop_vars, loop_shape)
        name = self.names[id(node)]
        if node.ndim == 0:
            return name
        offset = len(loop_shape) - node.ndim
        index = [
            "0" if d == 1 and loop_shape[offset + j] != 1 else loop_vars[offset + j]
            for j, d in enumerate(node.shape)
        ]
        return f"{name}[{', '.join(index)}]"

    def holders(self) -> list[tuple[str, tuple]]:
        """(variable, shape) of every array parameter: the inputs, then the buffers."""
        return [(self.names[id(n)], n.shape) for n in self.schedule.order
                if n.op is Op.INPUT] + self.buffer_params

    def var(self, node: Node) -> str:
        """How a whole-array statement (a helper call, a return) names ``node``."""
        return self.access(node, [], ()) if node.ndim == 0 else self.names[id(node)]

    def computes(self, node: Node) -> bool:
        """Whether the kernel has a step of its own for ``node`` (not an input or constant)."""
        return node.op not in (Op.INPUT, Op.CONST, Op.SIZE) and id(node) in self.ids

    def scalar_result(self, node: Node, wanted: str) -> str:
        """A variable holding the 0-d ``node`` (a gradient that is a constant, input or
        forward value gets one here)."""
        if id(node) in self.names and not self.schedule.is_forward(node) \
                and node.op is not Op.INPUT:
            return self.names[id(node)]
        name = self.namer.fresh(wanted)
        self.lines.append(f"{name} = {self.var(node)}")
        return name

    def fill(self, buffer: str, node: Node) -> None:
        """Copy ``node`` into the caller's buffer (a gradient that is a constant, an input, a
        forward value or another input's gradient)."""
        what = self.shown(node) if id(node) in self.ids else "a constant"
        self.lines.append(f"# {buffer} is {what} itself, copied into the caller's buffer")
        value = self.names.get(id(node)) or self.access(node, [], ())  # an array or a constant
        self.lines.append(f"{buffer}[:] = {value}")

    def _alloc(self, node: Node, name: str, fill: str | None = None) -> None:
        """The array ``name`` for ``node``: new, or the caller's buffer; filled if asked."""
        if id(node) not in self.buffers:
            self.lines.append(f"{name} = np.empty({self.shape(node.shape)}, dt)")
        if fill is not None:
            self._fill(name, [self.dim(d) for d in node.shape], fill)

    def _fill(self, name: str, extents: list[str], value: str) -> None:
        # A loop rather than np.zeros/np.full: those are separate Numba compiles (~0.15 s each).
        loop_vars, heads = self._loops_over(extents)
        self.lines.extend(heads)
        self.lines.append("    " * len(loop_vars) + f"{name}[{', '.join(loop_vars)}] = {value}")

    # ------------------------------------------------------------ the body

    def body(self) -> list[str]:
        self._prologue()
        if self.tiling is not None:
            return self._tiled_body()
        self._steps_in(plan_regions(self._steps(), self.schedule), "")
        return self.lines

    def _steps_in(self, steps: list, region: str) -> None:
        """The steps of one region of the kernel (runs of elementwise steps as one loop,
        ``regions.py``), a section header where the forward steps end and the backward ones
        (the adjoints) begin."""
        self._section = None
        for item in steps:
            if isinstance(item, Region):
                self.emit_region(item, region)
                continue
            self.header(item, region)
            self._comment(item)
            self._emit(item)

    def header(self, node: Node, region: str) -> None:
        backward = not self.schedule.is_forward(node)
        if backward != self._section:
            self._section = backward
            self.lines += ["", (f"# --- backward{region}: adjoints in reverse topological "
                                "order; downstream = upstream x local ---") if backward
                           else f"# --- forward{region}: the loss, one step per node ---"]

    def _steps(self) -> list[Node]:
        skipped = self.schedule.fused | self.schedule.folded | self.schedule.aliases
        return [n for n in self.schedule.order if n.op not in (Op.INPUT, Op.CONST, Op.SIZE)
                and id(n) not in skipped]

    def _prologue(self) -> None:
        self.lines += entry_lines(self, [n for n in self.schedule.order if n.op is Op.INPUT])
        probe = next(
            (n for n in self.schedule.order if n.op is Op.INPUT and n.dtype == FLOAT and n.ndim),
            None,
        )
        self.dim_lines.append(
            f"dt = {self.names[id(probe)]}.dtype  # float32 or float64, as called"
            if probe is not None else "dt = np.float64"
        )
        self.lines.append(self.dim_lines[-1])

    def _comment(self, node: Node) -> None:
        """``# h = tanh(z)  (B, 100)``, in the kernel's own names; a backward step says which
        rule made it (``[tanh: upstream x local]``); fused parts follow, one line each."""
        self.name(node)
        for part in self._fused_parts(node):
            if part.op is Op.MAP:
                rhs = print_scalar(part.attr("fn").expr, [self.shown(a) for a in part.args])
            else:
                extra = [f"{k}={v}" for k, v in part.attrs if k not in ("fn", "label", "name")]
                rhs = f"{part.label}({', '.join([self.shown(a) for a in part.args] + extra)})"
            text = f"{self.shown(part)} = {rhs}  {format_shape(part.shape)}" + self._rule(part)
            self.lines.append(("# " if part is node else "#   fused: ") + text)

    def shown(self, node: Node) -> str:
        """How comments call ``node``: its variable, its value, or (fused) its name."""
        if node.op is Op.CONST:
            return repr(node.attr("value"))
        if node.op is Op.SIZE or id(node) in self.schedule.aliases:
            return self.access(node, [], ()) if node.ndim == 0 or node.op is Op.SIZE \
                else self.shown(node.args[0])
        if id(node) in self.schedule.folded:
            return self.shown(node.args[0]) + ".T"
        return self.name(node)  # fused nodes too: each has a name of its own in comments

    def _rule(self, node: Node) -> str:
        if self.schedule.is_forward(node):
            return ""
        if id(node) in self.flows:
            user, arg = self.flows[id(node)]
            return f"  [{user.label}: upstream x local, into {self.shown(arg)}]"
        if id(node) in self.adjoint_of and node.op is Op.MAP:
            return f"  [the gradients flowing into {self.shown(self.adjoint_of[id(node)])}, added]"
        return ""

    def _fused_parts(self, node: Node) -> list[Node]:
        parts, stack = [], [node]
        while stack:
            current = stack.pop()
            parts.append(current)
            stack.extend(a for a in reversed(current.args) if id(a) in self.schedule.fused)
        return parts

    # ------------------------------------------------------------ per op

    def _emit(self, node: Node) -> None:
        emitter = getattr(self, f"_emit_{node.op.value}")
        buffer = self.buffers.get(id(node))
        if buffer is None or node.op in _IN_PLACE or (
                node.op is Op.RESHAPE and node.args[0].ndim == 0):
            emitter(node, self.name(node))
            return
        temp = self.namer.fresh(self.display[id(node)])
        self.names[id(node)] = temp
        emitter(node, temp)
        self.lines.append(f"{buffer}[:] = {temp}  # into the caller's buffer")

    def _loops(self, shape) -> tuple[list[str], list[str]]:
        return self._loops_over([self.dim(d) for d in shape])

    @staticmethod
    def _loops_over(extents: list[str]) -> tuple[list[str], list[str]]:
        loop_vars = [f"i{k}" for k in range(len(extents))]
        heads = ["    " * k + f"for {v} in range({extent}):"
                 for k, (v, extent) in enumerate(zip(loop_vars, extents))]
        return loop_vars, heads
