"""The body of a tiled kernel: one function, or three for splitting the rows between cores.

One function (the kernel ``fn.source`` shows): what depends on no row, then the tiles over all
the rows, adding into the sums, then what depends on the sums. Staged (the module that
``runtime/split.py`` compiles for large batches), the same lines as three functions:

``prepare`` checks the call, computes what depends on no row and zeroes the sums over the
rows; ``rows(first, last)`` runs the tiles of rows first..last, adding into the sums (the
scalar sums it returns); ``finish`` computes what depends on the sums and returns the results.
Because the rows function takes a range and its sums as parameters, the runtime can run two
halves of a large batch at once, each on one core with sums of its own, and add them before
``finish``: the passes between the products then use both cores, not only the products. (One
compiled function that called the three would be compiled twice over: Numba links and
optimises its callees again, 5.8 s more for the window classifier; so the one-function kernel
stays as it was and the staged module is compiled only when a large batch comes.)
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import Node, Op
from .op_lines import tuple_text
from .tiling import POST, PRE, ROW, SUM, TILE_ROWS


@dataclass(frozen=True)
class Stages:
    prepare: str  # function names in the module
    rows: str
    finish: str
    carried: list[str]  # what prepare returns, passed on to rows and finish
    private: list[str]  # sums each half of a split call needs its own copy of (then added)
    arguments: tuple[str, ...] = ()  # the kernel's parameters (inputs, then buffers)


class TiledStages:
    """The tiled kernel's body and its stage functions, mixed into ``Writer``."""

    def _tiled_body(self) -> list[str]:
        """The kernel's lines. Staged (``self.staged``): those of ``prepare`` (its return
        added by the module writer), with the rows and finish functions in
        ``self.stage_lines`` and later lines (the results) going to finish."""
        tiling, kind = self.tiling, self.tiling.kind
        steps = self._steps()
        self.lines += ["", "# ===== before the tiles: what depends on no row ====="]
        pre = [n for n in steps if kind[id(n)] == PRE]
        self._steps_in(pre, ", before the tiles")
        self.lines += ["", f"# sums over the rows of {tiling.dim}: zeroed here, added to by "
                           "every tile"]
        sums = [n for n in steps if kind[id(n)] == SUM]
        scalars = [self.name(n) for n in sums if n.ndim == 0]
        for node in sums:
            if node.ndim or not self.staged:  # (staged: scalar sums start in each range)
                self._start_sum(node)
        for table, terms in self.row_tables:
            self.rows_setup(table, terms)
        post = [n for n in steps if kind[id(n)] == POST]
        if not self.staged:
            self._tile_loop(steps, "0", self.dims[tiling.dim])
            self.lines.append("# ===== after the tiles: what depends on the sums =====")
            self._steps_in(post, ", after the tiles")
            return self.lines
        buffers = set(self.buffers.values())
        carried = [self.names[id(n)] for n in pre if self.names[id(n)] not in buffers]
        array_sums = [self.names[id(n)] for n in sums if n.ndim]
        carried += [n for n in array_sums if n not in buffers]
        private = list(array_sums)
        for block in self.row_blocks.values():
            carried += [v for v in (block.slot, block.index, block.rows) if v is not None]
            if block.slot is not None:  # distinct rows: each half adds into rows of its own
                private.append(block.rows)
        prepare = self.lines
        first, last = self.namer.fresh("first"), self.namer.fresh("last")
        self.lines = [*self.dim_lines, "", f"# the scalar sums over rows {first}..{last}",
                      *(f"{name} = 0.0" for name in scalars)]
        self._tile_loop(steps, first, last)
        self.lines.append(f"return {tuple_text(scalars)}")
        rows = self.lines
        self.lines = [*self.dim_lines, "", "# ===== after the tiles: what depends on the sums ====="]
        self._steps_in(post, ", after the tiles")
        self.stage_lines = (rows, first, last, scalars)
        self.stages = Stages("", "", "", carried, private)
        return prepare

    def _tile_loop(self, steps: list[Node], first: str, last: str) -> None:
        tiling, kind = self.tiling, self.tiling.kind
        start, stop = self.namer.fresh("start"), self.namer.fresh("stop")
        rows = self.namer.fresh(tiling.dim + "_tile")
        outer, self.lines = self.lines, []
        self.lines += [f"{stop} = min({start} + {TILE_ROWS}, {last})", f"{rows} = {stop} - {start}"]
        saved_names = {}
        for node in tiling.row_inputs:
            saved_names[id(node)] = self.names[id(node)]
            sliced = self.namer.fresh(self.names[id(node)] + "_tile")
            self.lines.append(f"{sliced} = {self.names[id(node)]}[{start}:{stop}]")
            self.names[id(node)] = sliced
        self.full_dims, self.dims = dict(self.dims), {**self.dims, tiling.dim: rows}
        self.tile, self.first_row = (start, stop), first
        self.in_rows = self.row_targets()
        self._steps_in([n for n in steps if kind[id(n)] in (ROW, SUM)], " of the tile")
        for table, _ in self.row_tables:
            self.rows_scatter(self.row_blocks[table.name])
        inner = self.lines
        self.dims, self.full_dims, self.tile, self.in_rows = self.full_dims, {}, None, {}
        self.names.update(saved_names)
        which = f"the rows of {tiling.dim}" if first == "0" else \
            f"the rows {first}..{last} of {tiling.dim}"
        self.lines = outer + [
            "",
            f"# ===== {which}, {TILE_ROWS} at a time (each tile's arrays stay in cache) =====",
            f"for {start} in range({first}, {last}, {TILE_ROWS}):",
            *("    " + line if line else "" for line in inner),
            "",
        ]

    def _start_sum(self, node: Node) -> None:
        """Before the tiles: the zeroed accumulator of a sum over the rows."""
        name = self.name(node)
        if node.op is Op.MATMUL:  # the first tile writes it (see _emit_matmul)
            if id(node) not in self.buffers:
                self.lines.append(f"{name} = np.empty({self.shape(node.shape)}, dt)")
        elif node.ndim == 0:
            self.lines.append(f"{name} = 0.0")
        else:
            self._alloc(node, name, "0.0")
