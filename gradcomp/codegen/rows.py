"""Row gradients in the kernel: a table used only through ``take`` gets its gradient as
rows, one per distinct row looked up (summed) or one per lookup (``rows="lookups"``).

``scatter_terms`` finds the scatters whose sum is such a gradient; ``RowLines`` writes the
lines that make the rows (``rows_setup``), put each lookup's adjoint in (``rows_scatter``)
and, in the tiles, let the product that gives the lookups' adjoint write straight into them.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from ..ir import Node, Op
from ..sympy_bridge import arg_symbols

_A0, _A1 = arg_symbols(2)
_ADD = sympy.Lambda((_A0, _A1), _A0 + _A1)  # the front end's add, as rules accumulate adjoints


def scatter_terms(adjoint: Node) -> list[Node] | None:
    """The scatter_add nodes whose sum is ``adjoint``, or None if it is anything else."""
    terms, stack = [], [adjoint]
    while stack:
        node = stack.pop()
        if node.op is Op.SCATTER_ADD and node.args[1].ndim >= 1:
            terms.append(node)
        elif node.op is Op.MAP and node.attr("fn") == _ADD:
            stack.extend(reversed(node.args))
        else:
            return None
    return terms


class RowLines:
    """Row-gradient emitters, mixed into ``Writer``."""

    def rows_setup(self, table: Node, terms: list[Node]) -> RowBlock:
        """Lines that find a table's looked-up rows and make their gradient rows: one per
        distinct row, zeroed (summed into by ``rows_scatter``), or one per lookup."""
        base = f"d_{table.name}"
        per_lookup = table.name in self.lookups
        block = RowBlock(None if per_lookup else self.namer.fresh(base + "_slot"),
                          self.namer.fresh(base + "_index"), self.namer.fresh(base + "_rows"),
                          self.count(table.shape[1:]), terms)
        lookups = [self.flat_index(t.args[1]) for t in terms]
        joined = lookups[0] if len(lookups) == 1 else f"np.concatenate(({', '.join(lookups)}))"
        ids = ", ".join(f"{self.shown(t.args[0])} at {self.shown(t.args[1])}" for t in terms)
        head = f"# gradient of {self.var(table)} as rows (scatter_add of {ids}):"
        self.row_blocks[table.name] = block
        if per_lookup:
            total = " + ".join(self.count(t.args[1].shape) for t in terms)
            self.lines += [
                "", head, "# one row per lookup, in lookup order, not summed (a row looked up "
                "twice comes", "# twice); nothing of size V is touched",
                f"{block.index} = {joined}" + (".copy()" if len(lookups) == 1 else ""),
                f"{block.rows} = np.empty(({total}, {block.width}), dt)",
            ]
            return block
        self.lines += [
            "", head + " the looked-up rows,",
            "# each with the sum of its lookups' adjoints; nothing of size V is touched",
            f"{block.slot}, {block.index} = row_slots({joined})",
            f"{block.rows} = np.empty(({block.index}.shape[0], {block.width}), dt)",
        ]
        self._fill(block.rows, [f"{block.index}.shape[0]", block.width], "0.0")
        return block

    def _term_spans(self, block: RowBlock):
        """Each term of ``block`` with its lookup count and its span ``(first, last)`` in the
        lookup order (in the tiles: the current tile's lookups)."""
        start = "0"
        for term in block.terms:
            term_index = term.args[1]
            n = self.count(term_index.shape)
            if self.tile is not None:  # this tile's lookups: rows start..stop of the index
                per_row = self.count(term_index.shape[1:])
                whole = " * ".join(self.full_dims.get(d, self.dim(d)) if isinstance(d, str)
                                   else str(d) for d in term_index.shape)
                span = [f"{bound} * {per_row}" if start == "0" else
                        f"{start} + {bound} * {per_row}" for bound in self.tile]
            else:
                whole = n
                span = [start, f"{start} + {n}"]
            yield term, n, span
            start = whole if start == "0" else f"{start} + {whole}"

    def row_targets(self) -> dict[int, str]:
        """In the tiles: products whose result is a tile's rows of a per-lookup gradient
        (``d_x = d_z @ W``, read only as the lookups' adjoint), by the view they write into."""
        targets = {}
        for block in self.row_blocks.values():
            if block.slot is not None:
                continue
            for term, n, (first, last) in self._term_spans(block):
                product = term.args[0]
                if product.op is Op.RESHAPE and self.schedule.users[id(product.args[0])] == [
                        product]:
                    product = product.args[0]
                if product.op is Op.MATMUL and product.ndim == 2 and all(
                        u is term for u in self.schedule.users[id(term.args[0])]):
                    targets[id(product)] = (f"{block.rows}[{first}:{last}]"
                                            f".reshape({self.shape(product.shape)})")
        return targets

    def rows_scatter(self, block: RowBlock) -> None:
        """Lines that put each lookup's adjoint into its row (the current tile's lookups):
        added into its distinct row, or copied to its own (unless computed there)."""
        spans = list(self._term_spans(block))
        if self.tile is not None:
            how = "added" if block.slot is not None else "copied"
            self.lines.append(f"# this tile's lookups, {how} into their rows of {block.rows}")
        for term, n, (first, last) in spans:
            values = term.args[0]
            values_2d = f"{self.var(values)}.reshape(({n}, {block.width}))"
            if block.slot is not None:
                part = block.slot if len(block.terms) == 1 and self.tile is None else \
                    f"{block.slot}[{first}:{last}]"
                self.lines.append(f"scatter_rows({block.rows}, {part}, {values_2d})")
            elif any(id(v) in self.in_rows for v in (values, *values.args[:1])):
                self.lines.append(f"#   {self.var(values)} was computed in them")
            else:
                self.lines.append(f"{block.rows}[{first}:{last}] = {values_2d}")


@dataclass
class RowBlock:
    slot: str | None  # each lookup's slot among the distinct rows (None: a row per lookup)
    index: str  # the distinct rows
    rows: str  # their summed gradients
    width: str
    terms: list[Node]
