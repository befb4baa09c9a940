"""The statements of each op, for ``Writer``: loops for elementwise maps and reductions,
BLAS calls for products, helper calls for lookups, scatters and picks.

Each ``_emit_<op>(node, name)`` appends the lines that compute ``node`` into the variable
``name``, reading its arguments through the writer's ``access`` / ``var``.
"""

from __future__ import annotations

from ..ir import Node, Op
from .printer import print_scalar
from .tiling import SUM


class OpLines:
    """Per-op emitters, mixed into ``Writer`` (they use its names, dims and lines)."""

    def _elementwise(self, node: Node, name: str) -> None:
        if node.ndim == 0:
            self.lines.append(f"{name} = {self._value_expr(node, [], ())}")
            return
        loop_vars, heads = self._loops(node.shape)
        self._alloc(node, name)
        self.lines.extend(heads)
        value = self._value_expr(node, loop_vars, node.shape)
        self.lines.append("    " * len(loop_vars) + f"{name}[{', '.join(loop_vars)}] = {value}")

    def _value_expr(self, node: Node, loop_vars, loop_shape) -> str:
        if node.op is Op.BROADCAST:
            return self.access(node.args[0], loop_vars, loop_shape)
        args = [self.access(a, loop_vars, loop_shape) for a in node.args]
        return print_scalar(node.attr("fn").expr, args)

    _emit_map = _elementwise
    _emit_broadcast = _elementwise

    def _reduce(self, node: Node, name: str, start: str, update: str) -> None:
        x = node.args[0]
        axes = node.attr("axes")
        loop_vars, heads = self._loops(x.shape)
        kept = [v for k, v in enumerate(loop_vars) if k not in axes]
        target = f"{name}[{', '.join(kept)}]" if kept else name
        if self._accumulates(node):
            pass  # zeroed before the tiles (_start_sum)
        elif kept:
            self._alloc(node, name, start)
        else:
            self.lines.append(f"{name} = {start}")
        self.lines.extend(heads)
        value = self.access(x, loop_vars, x.shape)
        self.lines.append("    " * len(loop_vars) + update.format(target=target, value=value))

    def _emit_sum(self, node: Node, name: str) -> None:
        self._reduce(node, name, "0.0", "{target} += {value}")

    def _emit_max(self, node: Node, name: str) -> None:
        self._reduce(node, name, "-np.inf", "{target} = max({target}, {value})")

    def _operand(self, node: Node) -> str:
        if id(node) in self.schedule.folded:
            return f"{self.var(node.args[0])}.T"
        return self.var(node)

    def _emit_matmul(self, node: Node, name: str) -> None:
        if node.args[0].ndim > 2:
            self._emit_batched_matmul(node, name)
            return
        a, b = (self._operand(x) for x in node.args)
        helper = "matmul" if all(x.ndim == 2 for x in node.args) else "dot"
        if self._accumulates(node):  # x.T @ y over the rows: the first tile writes, others add
            self.lines += [f"if {self.tile[0]} == {self.first_row}:",
                           f"    {helper}_into({a}, {b}, {name})",
                           "else:", f"    {helper}_add({a}, {b}, {name})"]
        elif id(node) in self.buffers:
            self.lines.append(f"{helper}_into({a}, {b}, {name})")
        elif id(node) in self.in_rows:  # the lookups' adjoint: into the gradient's rows
            self.lines += [f"{name} = {self.in_rows[id(node)]}  # this tile's gradient rows",
                           f"{helper}_into({a}, {b}, {name})"]
        else:
            self.lines.append(f"{name} = {helper}({a}, {b})")

    def _emit_batched_matmul(self, node: Node, name: str) -> None:
        """``(..., m, k) @ (k, n)``: one product over all the rows; ``(..., m, k) @
        (..., k, n)``: one product per batch element, into the rows of the result."""
        a, b = node.args
        out = name
        if id(node) not in self.buffers:
            self.lines.append(f"{name} = np.empty({self.shape(node.shape)}, dt)")
        if b.ndim <= 2:
            helper = "matmul" if b.ndim == 2 else "dot"
            rows = self.count(a.shape[:-1])
            a_rows = tuple_text([rows, self.dim(a.shape[-1])])
            out_rows = tuple_text([rows] + [self.dim(d) for d in b.shape[1:]])
            self.lines.append(f"{helper}_into({self.var(a)}.reshape({a_rows}), "
                              f"{self._operand(b)}, {out}.reshape({out_rows}))")
            return
        batch = self.count(a.shape[:-2])
        views = [f"{self.var(x)}.reshape({tuple_text([batch] + [self.dim(d) for d in x.shape[-2:]])})"
                 for x in (a, b, node)]
        self.lines += [f"for i0 in range({batch}):  # one product per batch element",
                       f"    matmul_into({views[0]}[i0], {views[1]}[i0], {views[2]}[i0])"]

    def _flat_rows(self, node: Node) -> str:
        """``node`` viewed as a 2-D array of rows (its first dim by the rest)."""
        var = self.var(node)
        if node.ndim == 2:
            return var
        return f"{var}.reshape(({self.dim(node.shape[0])}, {self.count(node.shape[1:])}))"

    def flat_index(self, node: Node) -> str:
        var = self.var(node)
        if node.ndim == 0:
            return f"np.array([{var}])"
        return var if node.ndim == 1 else f"{var}.ravel()"

    def _emit_take(self, node: Node, name: str) -> None:
        table, index = node.args
        if index.ndim == 0:
            row = f"{self.var(table)}[{self.var(index)}]"
            self.lines.append(f"{name} = {row}" + (".copy()" if node.ndim else ""))
            return
        gathered = f"gather_rows({self._flat_rows(table)}, {self.flat_index(index)})"
        if node.ndim != 2 or index.ndim != 1:
            gathered += f".reshape({self.shape(node.shape)})"
        self.lines.append(f"{name} = {gathered}")

    def _emit_scatter_add(self, node: Node, name: str) -> None:
        values, index = node.args
        width = self.count(node.shape[1:])
        if not self._accumulates(node):  # else zeroed before the tiles
            self._alloc(node, name, "0.0")
        values_2d = f"{self.var(values)}.reshape(({self.count(index.shape)}, {width}))"
        target = name if node.ndim == 2 else f"{name}.reshape(({self.dim(node.shape[0])}, {width}))"
        self.lines.append(f"scatter_rows({target}, {self.flat_index(index)}, {values_2d})")

    def _emit_reshape(self, node: Node, name: str) -> None:
        x = self.var(node.args[0])
        if node.args[0].ndim == 0:
            self._alloc(node, name, x)
        elif node.ndim == 0:
            self.lines.append(f"{name} = {x}.ravel()[0]")
        else:
            self.lines.append(f"{name} = {x}.reshape({self.shape(node.shape)})")

    def _emit_transpose(self, node: Node, name: str) -> None:
        x = self.var(node.args[0])
        self.lines.append(
            f"{name} = np.ascontiguousarray(np.transpose({x}, {node.attr('perm')}))"
        )

    def _emit_pick(self, node: Node, name: str) -> None:
        x, labels = (self.var(a) for a in node.args)
        self.lines.append(f"{name} = pick_columns({x}, {labels})")

    def _emit_unpick(self, node: Node, name: str) -> None:
        g, labels = (self.var(a) for a in node.args)
        self.lines.append(
            f"{name} = unpick_columns({g}, {labels}, {self.helper_int(node.shape[1])})")

    def _emit_concat(self, node: Node, name: str) -> None:
        parts = ", ".join(self.var(a) for a in node.args)
        self.lines.append(f"{name} = np.concatenate(({parts},), {node.attr('axis')})")

    def _emit_stop_gradient(self, node: Node, name: str) -> None:
        self.lines.append(f"{name} = {self.var(node.args[0])}")

    def _emit_slice(self, node: Node, name: str) -> None:
        index = [":"] * node.ndim
        index[node.attr("axis")] = f"{node.attr('start')}:{node.attr('stop')}"
        x = self.var(node.args[0])
        self.lines.append(f"{name} = np.ascontiguousarray({x}[{', '.join(index)}])")

    # ------------------------------------------------------------ row gradients

    def _accumulates(self, node: Node) -> bool:
        return self.tile is not None and self.tiling.kind[id(node)] == SUM


def tuple_text(items: list[str]) -> str:
    """``(a,)``, ``(a, b)``, or ``()``: a tuple literal of the given expressions."""
    if not items:
        return "()"
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
