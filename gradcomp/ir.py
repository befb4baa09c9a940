"""The expression DAG: immutable, hash-consed tensor nodes.

Contract: a ``Node`` is built only through ``Node.make`` (the front end does that), which
returns the one existing node with the same op, arguments, attributes, shape and dtype if there
is one. Identical subexpressions are therefore the same object, and common subexpressions of the
forward and backward graphs are shared by construction. Nodes compare and hash by identity.

Shapes are tuples of dims; a dim is an int or a name (``"B"``) bound at call time. Dtypes are
``"float"`` (float32 or float64, chosen per call from the arrays passed) and ``"int64"``.
Every traversal here is iterative, so graphs of 10^5 nodes never meet the recursion limit.
"""

from __future__ import annotations

import functools

import enum
import threading
import weakref
from dataclasses import dataclass
from typing import Iterable, Union

from .errors import IRError, ShapeError

Dim = Union[int, str]
Shape = tuple[Dim, ...]

FLOAT = "float"
INT = "int64"


class Op(str, enum.Enum):
    """The core op set; everything in the front end is built from these."""

    INPUT = "input"  # attrs: name
    CONST = "const"  # attrs: value (python float), shape filled by broadcasting
    SIZE = "size"  # attrs: dims; the float product of dims (named dims bound at call time)
    MAP = "map"  # attrs: fn (sympy Lambda), label; elementwise with broadcasting
    BROADCAST = "broadcast"  # attrs: none; arg broadcast to this node's shape
    MATMUL = "matmul"  # numpy matmul semantics for 1-D and 2-D operands
    SUM = "sum"  # attrs: axes (sorted tuple), reduced away
    MAX = "max"  # attrs: axes, reduced away
    TAKE = "take"  # (table, index): table rows gathered by an int array
    SCATTER_ADD = "scatter_add"  # (values, index): rows added into a zero table; adjoint of take
    RESHAPE = "reshape"
    TRANSPOSE = "transpose"  # attrs: perm
    PICK = "pick"  # (x, labels): x[i, labels[i]]
    UNPICK = "unpick"  # (g, labels): zeros with g[i] at [i, labels[i]]; adjoint of pick
    CONCAT = "concat"  # attrs: axis
    SLICE = "slice"  # attrs: axis, start, stop; adjoint part of concat
    STOP_GRADIENT = "stop_gradient"  # the identity, with no gradient

    def __str__(self) -> str:
        return self.value


_INTERN: "weakref.WeakValueDictionary[tuple, Node]" = weakref.WeakValueDictionary()
# Names users give intermediates (``gc.name(h, "h")``): metadata, not part of a node's key, so
# naming a node never makes a new one (the same expression built twice is one named node).
_NAMES: "weakref.WeakKeyDictionary[Node, str]" = weakref.WeakKeyDictionary()
# Composite functions (softmax cross-entropy, logsumexp, ...) the front end built a node as,
# with their arguments: pictures draw such a node as one box.
_COMPOSITES: "weakref.WeakKeyDictionary[Node, tuple]" = weakref.WeakKeyDictionary()
_INTERN_LOCK = threading.Lock()


@dataclass(frozen=True, eq=False)
class Node:
    """One tensor-valued operation. Build with ``Node.make``; never mutate."""

    op: Op
    args: tuple["Node", ...]
    attrs: tuple[tuple[str, object], ...]
    shape: Shape
    dtype: str

    @staticmethod
    def make(op: Op, args: Iterable["Node"], shape: Shape, dtype: str, **attrs) -> "Node":
        """The interned node for this op, args, attrs, shape and dtype."""
        args = tuple(args)
        attr_items = tuple(sorted(attrs.items()))
        key = (op, args, attr_items, tuple(shape), dtype)
        with _INTERN_LOCK:
            node = _INTERN.get(key)
            if node is None:
                node = Node(op, args, attr_items, tuple(shape), dtype)
                _INTERN[key] = node
        return node

    def attr(self, key: str, default=None):
        for name, value in self.attrs:
            if name == key:
                return value
        return default

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def name(self) -> str | None:
        """The input name, for ``input`` nodes; None otherwise."""
        return self.attr("name") if self.op is Op.INPUT else None

    @property
    def given_name(self) -> str | None:
        """The input's name, or the name a user gave this intermediate (``gc.name``)."""
        return self.name if self.op is Op.INPUT else _NAMES.get(self)

    @property
    def label(self) -> str:
        """A short word for the op, used in dumps, pictures and generated names."""
        if self.op is Op.INPUT:
            return self.attr("name")
        return self.attr("label") or self.op.value

    def __repr__(self) -> str:
        return f"<{self.label} {format_shape(self.shape)} {self.dtype}>"

    # Arithmetic operators (+, @, .T, ...) are attached by the front end, which owns them.

    def __iter__(self):
        raise TypeError("a gradcomp Node is symbolic and cannot be iterated; use take/slice")


def name(node: Node, text: str) -> Node:
    """Name an intermediate (``h = gc.name(gc.tanh(z), "h")``): generated source, dumps and
    pictures call it ``h`` and its adjoint ``d_h``. Returns the node itself."""
    if not isinstance(node, Node):
        raise IRError(f"gc.name names a gradcomp node, got {type(node).__name__}")
    if not isinstance(text, str) or not text.isidentifier():
        raise IRError(f"a name must be an identifier such as 'h', got {text!r}")
    if node.op is Op.INPUT:
        if text != node.name:
            raise IRError(f"input {node.name!r} already has its name; it cannot be {text!r}")
        return node
    _NAMES[node] = text
    return node


def mark_composite(node: Node, kind: str, args: tuple) -> Node:
    """Record that ``node`` is the composite ``kind`` of ``args`` (for pictures)."""
    _COMPOSITES.setdefault(node, (kind, tuple(args)))
    return node


def composite(node: Node) -> tuple[str, tuple] | None:
    """``(kind, args)`` if ``node`` is a composite the front end built, else None."""
    return _COMPOSITES.get(node)


def format_shape(shape: Shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def broadcast_shapes(*shapes: Shape, what: str = "operands") -> Shape:
    """NumPy broadcasting over int and named dims. A named dim only matches itself or 1."""
    rank = max((len(s) for s in shapes), default=0)
    out: list[Dim] = []
    for axis in range(rank):
        dims = {s[axis - rank + len(s)] for s in shapes if axis - rank + len(s) >= 0}
        dims.discard(1)
        if len(dims) > 1:
            listing = ", ".join(format_shape(s) for s in shapes)
            raise ShapeError(
                f"cannot broadcast {what} of shapes {listing}: dims "
                f"{sorted(map(str, dims))} clash at axis {axis - rank}"
            )
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def dims_product(shape: Shape) -> tuple[int, tuple[str, ...]]:
    """The int part and the sorted named part of a shape's element count."""
    count, names = 1, []
    for d in shape:
        if isinstance(d, str):
            for factor in d.split("*"):
                if factor.isdigit():
                    count *= int(factor)
                else:
                    names.append(factor)
        else:
            count *= d
    return count, tuple(sorted(names))


def product_dim(*dims: Dim) -> Dim:
    """The dim holding as many elements as ``dims`` together: an int, a name, or a product
    of names such as ``"B*T"`` (an int factor first: ``"5*B"``), in one canonical spelling."""
    count, names = dims_product(dims)
    if not names:
        return count
    return "*".join(([str(count)] if count != 1 else []) + list(names))


def is_product(d: Dim) -> bool:
    """Whether ``d`` is a product of dims (``"B*T"``) rather than an int or a single name."""
    return isinstance(d, str) and "*" in d


def dim_value(d: Dim, dims: dict[str, int]) -> int:
    """The size of ``d`` with the named dims bound as in ``dims``."""
    if isinstance(d, int):
        return d
    if not is_product(d):
        return dims[d]
    count, names = dims_product((d,))
    for name in names:
        count *= dims[name]
    return count


def toposort(outputs: Iterable[Node]) -> list[Node]:
    """Every node the outputs depend on, arguments before users, in a deterministic order.

    Iterative depth-first post-order: arguments are visited left to right, outputs in the
    order given, so the same graph always yields the same list.
    """
    order: list[Node] = []
    done: set[int] = set()
    for root in outputs:
        if id(root) in done:
            continue
        stack: list[tuple[Node, int]] = [(root, 0)]
        on_stack = {id(root)}
        while stack:
            node, next_arg = stack[-1]
            if next_arg < len(node.args):
                stack[-1] = (node, next_arg + 1)
                child = node.args[next_arg]
                if id(child) not in done and id(child) not in on_stack:
                    stack.append((child, 0))
                    on_stack.add(id(child))
            else:
                stack.pop()
                on_stack.discard(id(node))
                done.add(id(node))
                order.append(node)
    return order


def inputs_of(outputs: Iterable[Node]) -> list[Node]:
    """The input nodes the outputs depend on, in topological order."""
    return [n for n in toposort(outputs) if n.op is Op.INPUT]


def describe(node: Node, ids: dict[int, str]) -> str:
    """One dump line: ``n5 = tanh(n4)  (B, 100) float  [h]`` (the user's name, if given)."""
    if node.op is Op.INPUT:
        rhs = f"input {node.name!r}"
    elif node.op is Op.CONST:
        rhs = f"const {node.attr('value')!r}"
    else:
        shown = [ids[id(a)] for a in node.args]
        extra = [
            f"{k}={v}" for k, v in node.attrs if k not in ("fn", "label", "name")
        ]
        if node.op is Op.MAP:
            extra.append(f"fn={_fn_text(node.attr('fn'))}")
        rhs = f"{node.label}({', '.join(shown + extra)})"
    named = f"  [{_NAMES[node]}]" if node in _NAMES else ""
    return f"{ids[id(node)]} = {rhs}  {format_shape(node.shape)} {node.dtype}{named}"


@functools.lru_cache(maxsize=4096)
def _fn_text(fn) -> str:
    return str(fn)  # SymPy's printer: slow, and a large graph applies few distinct fns


def node_ids(order: list[Node]) -> dict[int, str]:
    return {id(n): f"n{i}" for i, n in enumerate(order)}


def dump(*outputs: Node) -> str:
    """A jaxpr-like listing of the graph, one node per line, in topological order."""
    order = toposort(outputs)
    ids = node_ids(order)
    return "\n".join(describe(n, ids) for n in order)


def to_payload(outputs: list[Node]) -> tuple:
    """The graph of ``outputs`` as plain data (op, argument positions, attrs, shape, dtype per
    node, in topological order): what another process rebuilds it from (``from_payload``),
    interned there like any graph built by hand."""
    order = toposort(outputs)
    position = {id(n): k for k, n in enumerate(order)}
    nodes = tuple((n.op.value, tuple(position[id(a)] for a in n.args), n.attrs, n.shape, n.dtype,
                   _NAMES.get(n)) for n in order)  # names too: they are in the generated source
    return nodes, tuple(position[id(n)] for n in outputs)


def from_payload(payload: tuple) -> list[Node]:
    """The output nodes of a graph sent as ``to_payload`` data."""
    nodes, outputs = payload
    built: list[Node] = []
    for op, args, attrs, shape, dtype, given in nodes:
        built.append(Node.make(Op(op), [built[k] for k in args], shape, dtype, **dict(attrs)))
        if given is not None:
            name(built[-1], given)
    return [built[k] for k in outputs]


def check_unique_names(inputs) -> None:
    """Each input name stands for one input: the same name twice with other shapes or dtypes
    is an error."""
    seen: dict[str, Node] = {}
    for node in inputs:
        other = seen.setdefault(node.name, node)
        if other is not node:
            raise IRError(
                f"input {node.name!r} is declared twice, as {format_shape(other.shape)} "
                f"{other.dtype} and {format_shape(node.shape)} {node.dtype}"
            )
