"""Elementwise functions: one ``map`` node holding a SymPy ``Lambda``, broadcasting like
NumPy; Python numbers are folded into the Lambda instead of becoming nodes."""

from __future__ import annotations

import builtins
import functools
from numbers import Real
from typing import Callable, Sequence

import sympy

from ..errors import IRError
from ..ir import FLOAT, Dim, Node, Op, broadcast_shapes, dims_product
from ..sympy_bridge import arg_symbols
from .inputs import Operand, broadcast_to, const


def size(*dims: Dim) -> Node | float:
    """The product of dims as a float (a node when a dim is named, bound at call time)."""
    count, names = dims_product(dims)
    if not names:
        return float(count)
    node = Node.make(Op.SIZE, (), (), FLOAT, dims=names)
    return node if count == 1 else mul(node, float(count))


def _as_float_node(x, what: str) -> Node | float:
    if isinstance(x, Node):
        if x.dtype != FLOAT:
            raise IRError(f"{what}: {x!r} is an int array; elementwise math takes float arrays")
        return x
    if isinstance(x, bool) or not isinstance(x, Real):
        raise IRError(f"{what}: expected a gradcomp node or a real number, got {type(x).__name__}")
    return x


def elementwise(fn: Callable | sympy.Lambda, *operands: Operand, label: str = "map") -> Node:
    """Apply a scalar SymPy function to arrays, broadcasting like NumPy.

    ``fn`` takes SymPy symbols and returns a SymPy expression, e.g.
    ``elementwise(lambda a, b: sympy.sin(a) * b, x, y)``. Its derivatives come from SymPy.
    """
    operands = tuple(_as_float_node(x, label) for x in operands)
    nodes = [x for x in operands if isinstance(x, Node)]
    pattern = tuple(None if isinstance(x, Node) else x for x in operands)
    if getattr(fn, "__module__", None) == __name__ or isinstance(fn, (type, sympy.Lambda)):
        # gradcomp's own and SymPy's functions never change: cache (keyed by the numbers'
        # types too: 2 == 2.0, but a ** 2 and a ** 2.0 are different functions)
        body = _body(fn, pattern, tuple(type(p) for p in pattern))
    else:  # a user's callable may close over changing state
        body = _body.__wrapped__(fn, pattern, ())
    return _map_node(body, nodes, label)


@functools.lru_cache(maxsize=8192)
def _body(fn: Callable | sympy.Lambda, pattern: tuple, types: tuple) -> sympy.Expr:
    """fn applied to a0, a1, ... for the node operands and to the numbers in ``pattern``
    (``types``: only part of the cache key)."""
    symbols = iter(arg_symbols(builtins.sum(1 for p in pattern if p is None)))
    call_args = [next(symbols) if p is None else sympy.sympify(p) for p in pattern]
    return sympy.sympify(fn(*call_args))


@functools.lru_cache(maxsize=8192)
def _canonical(body: sympy.Expr, count: int) -> tuple[object, tuple[int, ...]]:
    """The body as (Lambda over the arguments it uses, their positions); a number or a bare
    argument comes back as itself ("identity")."""
    if body.is_Number:
        return body, ()
    symbols = arg_symbols(count)
    used = tuple(i for i, s in enumerate(symbols) if body.has(s))
    if len(used) == 1 and body == symbols[used[0]]:
        return "identity", used
    renamed = arg_symbols(len(used))
    body = body.xreplace({symbols[i]: t for i, t in zip(used, renamed)})
    return sympy.Lambda(renamed, body), used


def _map_node(body: sympy.Expr, nodes: list[Node], label: str) -> Node:
    shape = broadcast_shapes(*(n.shape for n in nodes), what=f"the arguments of {label}")
    constants = {s: _number(n.attr("value")) for s, n in zip(arg_symbols(len(nodes)), nodes)
                 if n.op is Op.CONST}
    if constants:  # fold scalar constants (such as the seed 1.0) into the function
        body = body.xreplace(constants)
    fn, used = _canonical(body, len(nodes))
    if isinstance(fn, sympy.Expr) and fn.is_Number:
        if not fn.is_finite or not fn.is_real:
            raise IRError(f"{label} evaluates to the non-finite constant {fn}")
        return const(float(fn), shape)
    if fn == "identity":
        return broadcast_to(nodes[used[0]], shape)
    return Node.make(Op.MAP, [nodes[i] for i in used], shape, FLOAT, fn=fn, label=label)


def _number(value: float) -> sympy.Expr:
    return sympy.Integer(int(value)) if float(value).is_integer() else sympy.Float(value)


def map_expr(body: sympy.Expr, nodes: Sequence[Node], label: str) -> Node:
    """A map node from a body already written in ``a0, a1, ...`` (used by the gradient rules)."""
    return _map_node(sympy.sympify(body), list(nodes), label)


def _add(x, y):
    return x + y


def _sub(x, y):
    return x - y


def _mul(x, y):
    return x * y


def _div(x, y):
    return x / y


def _pow(x, y):
    return x**y


def _neg(x):
    return -x


def _sigmoid(x):
    return 1 / (1 + sympy.exp(-x))


def _relu(x):
    return sympy.Max(x, 0)


def add(a: Operand, b: Operand) -> Node:
    return elementwise(_add, a, b, label="add")


def sub(a: Operand, b: Operand) -> Node:
    return elementwise(_sub, a, b, label="sub")


def mul(a: Operand, b: Operand) -> Node:
    return elementwise(_mul, a, b, label="mul")


def div(a: Operand, b: Operand) -> Node:
    return elementwise(_div, a, b, label="div")


def power(a: Operand, b: Operand) -> Node:
    return elementwise(_pow, a, b, label="pow")


def neg(a: Node) -> Node:
    return elementwise(_neg, a, label="neg")


def exp(a: Operand) -> Node:
    return elementwise(sympy.exp, a, label="exp")


def log(a: Operand) -> Node:
    return elementwise(sympy.log, a, label="log")


def sin(a: Operand) -> Node:
    return elementwise(sympy.sin, a, label="sin")


def cos(a: Operand) -> Node:
    return elementwise(sympy.cos, a, label="cos")


def tan(a: Operand) -> Node:
    return elementwise(sympy.tan, a, label="tan")


def tanh(a: Operand) -> Node:
    return elementwise(sympy.tanh, a, label="tanh")


def sigmoid(a: Operand) -> Node:
    return elementwise(_sigmoid, a, label="sigmoid")


def relu(a: Operand) -> Node:
    return elementwise(_relu, a, label="relu")


def abs(a: Operand) -> Node:  # noqa: A001 - the NumPy name
    return elementwise(sympy.Abs, a, label="abs")


def sqrt(a: Operand) -> Node:
    return elementwise(sympy.sqrt, a, label="sqrt")


def maximum(a: Operand, b: Operand) -> Node:
    """Elementwise max; its gradient routes the upstream gradient to the larger argument."""
    return elementwise(sympy.Max, a, b, label="maximum")


def minimum(a: Operand, b: Operand) -> Node:
    return elementwise(sympy.Min, a, b, label="minimum")
