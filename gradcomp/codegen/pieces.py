"""A long kernel as pieces: several compiled functions of bounded size, run one after another.

Numba's compile time grows faster than a function's length (a chain of 1,000 elementwise ops
took 4.8 s, of 2,000 10.9 s, of 20,000 more than 15 minutes). An untiled kernel computing
more than ``PIECE_NODES`` nodes is cut, between steps, into an even number of pieces of
near one size, that many on average at most, where the fewest values cross (``plan_cuts``);
its regions are then grouped piece by piece.
Each piece is an ``njit`` function of its own, compiled and cached on its own; the kernel
itself is a plain Python function that calls them in order, passing on what a later piece
reads. Every piece pays a few microseconds to be called, so small kernels stay one function.

What a piece takes and gives back is read off its printed body (Python's own ``ast``): its
parameters are the names it reads that the kernel's parameters or an earlier piece
define; it returns the names it assigns that a later piece or the kernel's result reads. The
first piece checks the call before anything is read; the last returns the kernel's results.
"""

from __future__ import annotations

import ast
import bisect
from dataclasses import dataclass

PIECE_NODES = 640  # nodes per piece at most, on average (a step's own and those fused into it)
# Pieces are compiled by two processes at once (``runtime/pieces.py``), so there are an even
# number of them, of one size give or take this fraction of it: each cut goes within half of
# it of where equal pieces would end.
BALANCE = 0.2


@dataclass(frozen=True)
class Piece:
    function: str  # its name in the module
    params: tuple[str, ...]
    returns: tuple[str, ...]
    # what each returned name holds, read off the line that makes it: "array N" (a new
    # C-contiguous array of N dims, of the call's dtype), "float", "int", or "" (not known);
    # a second process compiles later pieces from these before the first piece has run
    kinds: tuple[str, ...] = ()


def plan_cuts(steps: list, reads, roots, weight) -> tuple[tuple[int, int], ...]:
    """``(start, stop)`` ranges of ``steps``, one per piece (``weight(step)``: the nodes a
    step computes, its fused ones included); one range (one function) when they fit in one
    piece of ``PIECE_NODES``.

    There are ``piece_count`` pieces, of near one size: cut ``j`` of them goes within
    ``BALANCE / 2`` of a piece's mean size from where ``j`` equal pieces would end (pieces
    within ``BALANCE`` of their mean), or, where one step spans all of that, next to it.
    Every value computed before a cut and read after it is passed on (stored, returned,
    taken), which costs compile time, so within that each cut goes where the fewest values
    cross. ``reads(step)`` are the ids of the steps it reads; ``roots`` the ids the results
    read.
    """
    upto = [0]  # upto[p]: the nodes of steps[:p]
    for step in steps:
        upto.append(upto[-1] + weight(step))
    count, total = len(steps), upto[-1]
    if total <= PIECE_NODES:
        return ((0, count),)
    crossing = _crossing(steps, reads, roots)
    pieces = piece_count(total)
    slack = BALANCE / 2 * total / pieces
    cuts = [0]
    for j in range(1, pieces):
        end = j * total / pieces
        low = max(bisect.bisect_left(upto, end - slack), cuts[-1] + 1)
        high = min(bisect.bisect_right(upto, end + slack), count)
        if low < high:
            cut = min(range(low, high), key=lambda p: (crossing[p], abs(upto[p] - end)))
        else:  # a step spans the whole window: a cut beside it
            near = bisect.bisect_left(upto, end)
            cut = min((p for p in (near - 1, near) if cuts[-1] < p < count),
                      key=lambda p: abs(upto[p] - end), default=None)
            if cut is None:
                continue
        cuts.append(cut)
    return tuple(zip(cuts, [*cuts[1:], count]))


def piece_count(nodes: int) -> int:
    """How many pieces a kernel of ``nodes`` nodes is cut into: the fewest of at most
    ``PIECE_NODES``, made even (805 nodes: two of about 402, not 640 and 165; 1,605: four of
    about 401, not three, so that neither process waits idle for the other's last one)."""
    fewest = -(-nodes // PIECE_NODES)
    return fewest + fewest % 2


def _crossing(steps: list, reads, roots) -> list[int]:
    """``crossing[p]``: the values made before step ``p`` and read from it on (or by the
    results)."""
    count = len(steps)
    where = {id(s): k for k, s in enumerate(steps)}
    last = list(range(count))  # where each step's value is read last
    for k, step in enumerate(steps):
        for q in reads(step):
            if q in where:
                last[where[q]] = k
    for root in roots:
        if root in where:
            last[where[root]] = count
    change = [0] * (count + 2)
    for k, end in enumerate(last):
        change[k + 1] += 1
        change[end + 1] -= 1
    crossing, running = [0] * (count + 1), 0
    for p in range(count + 1):
        running += change[p]
        crossing[p] = running
    return crossing


def link_pieces(function: str, params: list[str], bodies: list[list[str]], prelude: str = ""):
    """Each piece's name, parameters and returned names, and the pieces' lines; ``bodies``
    are their lines in order (the last ending in the kernel's own return), ``params`` the
    kernel's parameters. ``prelude`` (``dt = x.dtype``) goes first in every later piece that
    reads the name it assigns. Parameters and returns come in the order the kernel defines
    them; each body is parsed once."""
    flows, lines = [], []
    if prelude:
        prelude_reads, (prelude_name,), _ = names_in([prelude])
    for k, body in enumerate(bodies):
        reads, stored, made = names_in(body)
        if k and prelude and prelude_name in reads:
            reads = (reads - {prelude_name}) | prelude_reads
            body = [prelude, *body]
        flows.append((reads, stored, made))
        lines.append(body)
    order = {name: k for k, name in enumerate(params)}
    for _, assigned, _ in flows:
        for name in assigned:
            order.setdefault(name, len(order))
    defined, takes = set(params), []
    for read, assigned, _ in flows:
        takes.append(sorted(read & defined, key=order.get))
        defined |= set(assigned)
    pieces = []
    for k, (_, assigned, made) in enumerate(flows):
        later = set().union(*takes[k + 1:])
        gives = [name for name in assigned if name in later]
        pieces.append(Piece(f"{function}_piece_{k + 1}", tuple(takes[k]), tuple(gives),
                            tuple(made.get(name, "") for name in gives)))
    return tuple(pieces), lines


def driver_lines(function: str, params: list[str], pieces: tuple[Piece, ...], wrap) -> list[str]:
    """The kernel itself: a plain Python function calling the pieces in order."""
    doc = ((f'    """The kernel in {len(pieces)} pieces, each compiled on its own (one function '
            "this long would"),
           ("    cost Numba more than linear time to compile): runs them in order, passing on "
            "what later"),
           '    pieces read."""')
    lines = [*wrap(f"def {function}(", params, "):"), *doc]
    for piece in pieces:
        head = f"{piece.function}("
        if piece is pieces[-1]:
            head = "return " + head
        elif piece.returns:
            target = wrap("(", list(piece.returns), ",)" if len(piece.returns) == 1 else ")")
            lines += ["    " + line for line in target[:-1]]
            head = f"{target[-1]} = {head}"
        lines += ["    " + line for line in wrap(head, list(piece.params), ")")]
    return lines


def names_in(body: list[str]) -> tuple[set[str], list[str], dict[str, str]]:
    """The names a piece's body reads before assigning them (from outside it, or a sum an
    earlier piece started), the names it assigns, in the order it first does, and what the
    first assignment of each makes (``_Flow.made``)."""
    flow = _Flow()
    flow.visit(ast.parse("\n".join(body)))
    return flow.reads, list(flow.stored), flow.made


class _Flow(ast.NodeVisitor):
    """Walks statements in the order they run: a value before the targets it is stored in."""

    def __init__(self):
        self.reads: set[str] = set()
        self.stored: dict[str, None] = {}  # in the order first stored
        # what the first plain assignment of a name makes: ``empty((...), dt)`` an
        # "array N" of that many dims, a float constant a "float", ``a.shape[k]`` an "int"
        self.made: dict[str, str] = {}

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            if node.id not in self.stored:
                self.reads.add(node.id)
        else:
            self.stored.setdefault(node.id)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        for target in node.targets:
            self.visit(target)
        if len(node.targets) != 1:
            return
        target = node.targets[0]
        if isinstance(target, ast.Name):
            self.made.setdefault(target.id, _kind(node.value, self.made))
        elif isinstance(target, ast.Tuple) and _called(node.value) == "row_slots":
            for name in target.elts:  # each lookup's slot, and the distinct rows
                self.made.setdefault(name.id, "index 1")

    def visit_For(self, node: ast.For) -> None:
        self.visit(node.iter)
        self.visit(node.target)
        for statement in node.body + node.orelse:
            self.visit(statement)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.visit(node.value)
        if isinstance(node.target, ast.Name):  # read, then stored
            self.visit_Name(ast.Name(node.target.id, ast.Load()))
        self.visit(node.target)


# the dims of the array a helper returns (of its first argument's dtype)
_HELPER_DIMS = {"gather_rows": 2, "matmul": 2, "pick_columns": 1, "unpick_columns": 2,
                "ravel": 1}


def _kind(value: ast.expr, made: dict) -> str:
    """What an assignment's value makes, as far as its line tells: "array N" (of the call's
    dtype), "array N of X" (of the dtype of X, a parameter), "same as X" (a parameter's
    slice), "index 1" (a 1-D int64 array), "float" (float64), "int" (intp), or ""."""
    called = _called(value)
    shape = value.args[1] if called == "reshape" and len(value.args) == 2 else \
        value.args[0] if called == "empty" and value.args else None
    if isinstance(shape, ast.Tuple):
        return f"array {len(shape.elts)}" if called == "empty" else \
            _of(value.args[0], len(shape.elts), made)
    if called in _HELPER_DIMS and value.args:
        return _of(value.args[0], _HELPER_DIMS[called], made)
    if called in ("min", "max") or isinstance(value, ast.Constant) and type(value.value) is int:
        return "int"
    if isinstance(value, ast.Constant) and isinstance(value.value, float):
        return "float"
    if isinstance(value, ast.Subscript):
        if ast.unparse(value.value).endswith(".shape"):
            return "int"
        if isinstance(value.value, ast.Name) and isinstance(value.slice, ast.Slice) \
                and value.slice.step is None:
            return f"same as {value.value.id}"
    if isinstance(value, ast.BinOp):  # floats if a float or float() is in it, else ints
        leaves = [n for n in ast.walk(value) if not isinstance(n, (ast.BinOp, ast.operator))]
        if any(isinstance(n, ast.Constant) and isinstance(n.value, float)
               or isinstance(n, ast.Call) and _called(n) == "float" for n in leaves):
            return "float"
        if all(isinstance(n, ast.Constant) and type(n.value) is int or isinstance(n, ast.Load)
               or isinstance(n, ast.Name) and made.get(n.id) == "int" for n in leaves):
            return "int"
    return ""


def _called(value: ast.expr) -> str:
    return ast.unparse(value.func) if isinstance(value, ast.Call) else ""


def _of(source: ast.expr, dims: int, made: dict) -> str:
    """An array of ``dims`` dims and the dtype of ``source`` (a name, ``x.T``, or a helper's
    array): of the call's dtype, or of a parameter's."""
    while True:
        if isinstance(source, ast.Attribute):
            source = source.value
        elif _called(source) in ("reshape", *_HELPER_DIMS) and source.args:
            source = source.args[0]
        else:
            break
    if not isinstance(source, ast.Name):
        return ""
    kind = made.get(source.id)
    if kind is None:
        return f"array {dims} of {source.id}"  # (a parameter)
    if kind.startswith("array ") and " of " not in kind:
        return f"array {dims}"
    if " of " in kind:
        return f"array {dims} of {kind.split(' of ')[1]}"
    return ""
