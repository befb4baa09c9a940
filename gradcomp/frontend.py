"""The user-facing builders. They check shapes and dtypes, then make interned nodes.

Contract: every function here takes nodes (or Python numbers, where a scalar makes sense) and
returns a node; nothing is computed. Elementwise functions become one ``map`` node holding a
SymPy ``Lambda``; Python numbers are folded into that Lambda instead of becoming nodes.
Composite functions (``mean``, ``logsumexp``, ``softmax``, ``cross_entropy``) are built from
the core ops and are max-shifted, so they stay finite for logits of any size.
"""

from __future__ import annotations

import builtins
import functools
import math
from numbers import Real
from typing import Callable, Sequence

import sympy

from .errors import IRError, ShapeError
from .ir import (FLOAT, INT, Dim, Node, Op, Shape, broadcast_shapes, dims_product, format_shape,
                 mark_composite, product_dim)
from .sympy_bridge import arg_symbols

Operand = Node | Real

# ---------------------------------------------------------------- inputs and constants


def _check_dtype(dtype: str) -> str:
    if dtype in ("float", "float32", "float64"):
        return FLOAT
    if dtype in ("int", "int64", "int32"):
        return INT
    raise IRError(f"dtype {dtype!r} is not one of 'float', 'float32', 'float64', 'int64'")


def _check_shape(shape, what: str) -> Shape:
    if isinstance(shape, (int, str)):
        shape = (shape,)
    dims = []
    for d in shape:
        if isinstance(d, bool) or not isinstance(d, (int, str)):
            raise ShapeError(f"{what}: dim {d!r} is neither an int nor a name")
        if isinstance(d, int) and d < 1:
            raise ShapeError(f"{what}: dim {d} must be at least 1")
        if isinstance(d, str):
            factors = [f.strip() for f in d.split("*")]
            if not all(f.isidentifier() or f.isdigit() and int(f) >= 1 for f in factors) \
                    or not any(f.isidentifier() for f in factors):
                raise ShapeError(f"{what}: named dim {d!r} must be an identifier such as 'B' "
                                 "or a product of them such as 'B*T'")
            d = product_dim(*(int(f) if f.isdigit() else f for f in factors))
        dims.append(d)
    return tuple(dims)


def tensor(name: str, shape: Sequence[Dim] = (), dtype: str = "float") -> Node:
    """An input array. Dims are ints or names bound at call time (one kernel for every B).

    ``dtype`` is 'float' (float32 or float64, chosen per call from the arrays passed; 'float32'
    and 'float64' are accepted as synonyms) or 'int64' (index and label arrays).
    """
    if not isinstance(name, str) or not name:
        raise IRError(f"an input name must be a non-empty string, got {name!r}")
    return Node.make(Op.INPUT, (), _check_shape(shape, f"input {name!r}"), _check_dtype(dtype), name=name)


def scalar(name: str, dtype: str = "float") -> Node:
    """A scalar input."""
    return tensor(name, (), dtype)


def scalars(names: str | Sequence[str], dtype: str = "float") -> tuple[Node, ...]:
    """Several scalar inputs: ``x, y, z = scalars("x y z")``."""
    if isinstance(names, str):
        names = names.replace(",", " ").split()
    return tuple(scalar(n, dtype) for n in names)


def const(value: float, shape: Sequence[Dim] = ()) -> Node:
    """A float constant, broadcast to ``shape``."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise IRError(f"a constant must be a finite real number, got {value!r}")
    scalar_node = Node.make(Op.CONST, (), (), FLOAT, value=float(value))
    return broadcast_to(scalar_node, shape)


def size(*dims: Dim) -> Node | float:
    """The product of dims as a float (a node when a dim is named, bound at call time)."""
    count, names = dims_product(dims)
    if not names:
        return float(count)
    node = Node.make(Op.SIZE, (), (), FLOAT, dims=names)
    return node if count == 1 else mul(node, float(count))


# ---------------------------------------------------------------- elementwise


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
        body = _body(fn, pattern)  # gradcomp's own and SymPy's functions never change: cache
    else:
        body = _body.__wrapped__(fn, pattern)  # a user's callable may close over changing state
    return _map_node(body, nodes, label)


@functools.lru_cache(maxsize=8192)
def _body(fn: Callable | sympy.Lambda, pattern: tuple) -> sympy.Expr:
    """fn applied to a0, a1, ... for the node operands and to the numbers in ``pattern``."""
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


# ---------------------------------------------------------------- structure


def _node(x, what: str) -> Node:
    if isinstance(x, Node):
        return x
    if isinstance(x, Real) and not isinstance(x, bool):
        return const(float(x))
    raise IRError(f"{what}: expected a gradcomp node, got {type(x).__name__}")


def _axes(x: Node, axis, what: str) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(x.ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for a in axes:
        if not isinstance(a, int) or not -x.ndim <= a < x.ndim:
            raise ShapeError(f"{what}: axis {a!r} is out of range for shape {format_shape(x.shape)}")
        out.append(a % x.ndim)
    if len(set(out)) != len(out):
        raise ShapeError(f"{what}: repeated axis in {axis!r}")
    return tuple(sorted(out))


def broadcast_to(x: Node, shape: Sequence[Dim]) -> Node:
    shape = _check_shape(shape, "broadcast_to")
    if x.shape == shape:
        return x
    if broadcast_shapes(x.shape, shape, what="broadcast_to") != shape:
        raise ShapeError(f"cannot broadcast shape {format_shape(x.shape)} to {format_shape(shape)}")
    return Node.make(Op.BROADCAST, (x,), shape, x.dtype)


def sum(x: Node, axis=None) -> Node:  # noqa: A001 - the NumPy name
    """Sum over ``axis`` (an int, a tuple, or None for all axes); the axes are removed."""
    x = _node(x, "sum")
    axes = _axes(x, axis, "sum")
    if not axes:
        return x
    shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
    return Node.make(Op.SUM, (x,), shape, x.dtype, axes=axes)


def mean(x: Node, axis=None) -> Node:
    x = _node(x, "mean")
    axes = _axes(x, axis, "mean")
    return div(sum(x, axes), size(*(x.shape[a] for a in axes)))


def amax(x: Node, axis=None) -> Node:
    """Max over ``axis``; ties share the upstream gradient equally."""
    x = _node(x, "max")
    axes = _axes(x, axis, "max")
    if not axes:
        return x
    shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
    return Node.make(Op.MAX, (x,), shape, x.dtype, axes=axes)


def keepdims(reduced: Node, x: Node, axes: tuple[int, ...]) -> Node:
    """``reduced`` (x reduced over ``axes``) reshaped with those axes kept as size 1."""
    return reshape(reduced, tuple(1 if i in axes else d for i, d in enumerate(x.shape)))


def matmul(a: Node, b: Node) -> Node:
    """NumPy matmul: 1-D and 2-D operands, and two batched forms for sequences.

    ``(..., m, k) @ (k, n) -> (..., m, n)`` (and ``@ (k,) -> (..., m)``): the leading dims
    are rows, one product over all of them. ``(..., m, k) @ (..., k, n) -> (..., m, n)``
    with the same batch dims on both sides: one product per batch element.
    """
    a, b = _node(a, "matmul"), _node(b, "matmul")
    for x in (a, b):
        if x.dtype != FLOAT or x.ndim == 0:
            raise ShapeError(f"matmul takes float arrays of rank >= 1, got {x!r}")
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise ShapeError(
            f"matmul: inner dims differ: {format_shape(a.shape)} @ {format_shape(b.shape)}"
        )
    if b.ndim <= 2:
        shape = a.shape[:-1] + b.shape[1:]
    elif a.ndim == b.ndim and a.shape[:-2] == b.shape[:-2]:
        shape = a.shape[:-1] + b.shape[-1:]
    else:
        raise ShapeError(
            f"matmul: {format_shape(a.shape)} @ {format_shape(b.shape)}: a batched right "
            "operand needs a left one with the same batch dims, (..., m, k) @ (..., k, n)"
        )
    return Node.make(Op.MATMUL, (a, b), shape, FLOAT)


def swap_last(x: Node) -> Node:
    """``x`` with its last two axes swapped (each matrix of a batch transposed)."""
    perm = tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2)
    return transpose(x, perm)


def rows(x: Node) -> Node:
    """``x`` as a 2-D array: every leading dim folded into one (``(B, T, D) -> (B*T, D)``)."""
    return reshape(x, (product_dim(*x.shape[:-1]), x.shape[-1]))


def transpose(x: Node, perm: Sequence[int] | None = None) -> Node:
    x = _node(x, "transpose")
    perm = tuple(reversed(range(x.ndim))) if perm is None else tuple(perm)
    if sorted(perm) != list(range(x.ndim)):
        raise ShapeError(f"transpose: {perm} is not a permutation of the axes of {x!r}")
    if perm == tuple(range(x.ndim)):
        return x
    if x.op is Op.TRANSPOSE:  # a transpose of a transpose is one permutation
        inner = x.attr("perm")
        return transpose(x.args[0], tuple(inner[p] for p in perm))
    if x.op is Op.MATMUL and x.ndim == 2 and all(a.ndim == 2 for a in x.args):
        return matmul(transpose(x.args[1]), transpose(x.args[0]))  # (AB)^T = B^T A^T
    return Node.make(Op.TRANSPOSE, (x,), tuple(x.shape[p] for p in perm), x.dtype, perm=perm)


def reshape(x: Node, shape: Sequence[Dim]) -> Node:
    """A new shape with the same element count (named dims must match by name)."""
    x = _node(x, "reshape")
    shape = _check_shape(shape, "reshape")
    if dims_product(x.shape) != dims_product(shape):
        raise ShapeError(
            f"reshape: cannot reshape {format_shape(x.shape)} to {format_shape(shape)}: "
            "the element counts differ"
        )
    if shape == x.shape:
        return x
    if x.op is Op.RESHAPE:  # only the last shape matters
        return reshape(x.args[0], shape)
    return Node.make(Op.RESHAPE, (x,), shape, x.dtype)


def stop_gradient(x: Node) -> Node:
    """``x`` itself, through which no gradient flows (JAX's ``lax.stop_gradient``)."""
    x = _node(x, "stop_gradient")
    if x.op in (Op.CONST, Op.STOP_GRADIENT):
        return x
    return Node.make(Op.STOP_GRADIENT, (x,), x.shape, x.dtype)


def take(table: Node, index: Node) -> Node:
    """Rows of ``table`` at ``index`` (an int array): the embedding lookup.

    The result has shape ``index.shape + table.shape[1:]``; its adjoint is ``scatter_add``.
    """
    table, index = _node(table, "take"), _node(index, "take")
    if table.dtype != FLOAT or table.ndim < 1:
        raise ShapeError(f"take: the table must be a float array of rank >= 1, got {table!r}")
    if index.dtype != INT:
        raise IRError(f"take: the index must be an int64 array, got {index!r}")
    return Node.make(Op.TAKE, (table, index), index.shape + table.shape[1:], FLOAT)


def scatter_add(values: Node, index: Node, rows: Dim) -> Node:
    """A zero table of ``rows`` rows with ``values[i]`` added at row ``index[i]``."""
    values, index = _node(values, "scatter_add"), _node(index, "scatter_add")
    if index.dtype != INT:
        raise IRError(f"scatter_add: the index must be an int64 array, got {index!r}")
    if values.shape[: index.ndim] != index.shape:
        raise ShapeError(
            f"scatter_add: values {format_shape(values.shape)} do not start with the index "
            f"shape {format_shape(index.shape)}"
        )
    shape = (rows,) + values.shape[index.ndim :]
    return Node.make(Op.SCATTER_ADD, (values, index), shape, FLOAT)


def pick(x: Node, labels: Node) -> Node:
    """``x[i, labels[i]]`` for a 2-D ``x`` and 1-D int ``labels`` (the label's score)."""
    x, labels = _node(x, "pick"), _node(labels, "pick")
    if x.ndim != 2 or x.dtype != FLOAT:
        raise ShapeError(f"pick: x must be a 2-D float array, got {x!r}")
    if labels.dtype != INT or labels.shape != x.shape[:1]:
        raise ShapeError(
            f"pick: labels must be int64 of shape {format_shape(x.shape[:1])}, got {labels!r}"
        )
    return Node.make(Op.PICK, (x, labels), x.shape[:1], FLOAT)


def unpick(g: Node, labels: Node, classes: Dim) -> Node:
    """Zeros of shape (N, classes) with ``g[i]`` at ``[i, labels[i]]``: the adjoint of pick."""
    g, labels = _node(g, "unpick"), _node(labels, "unpick")
    if g.ndim != 1 or labels.shape != g.shape or labels.dtype != INT:
        raise ShapeError(f"unpick: g and labels must be 1-D of one shape, got {g!r}, {labels!r}")
    return Node.make(Op.UNPICK, (g, labels), g.shape + (classes,), FLOAT)


def concat(xs: Sequence[Node], axis: int = 0) -> Node:
    """Join arrays along an axis whose dims are ints; all other dims must agree."""
    xs = [_node(x, "concat") for x in xs]
    if not xs:
        raise ShapeError("concat needs at least one array")
    if len(xs) == 1:
        return xs[0]
    first = xs[0]
    axis = _axes(first, axis, "concat")[0]
    for x in xs:
        rest = x.shape[:axis] + x.shape[axis + 1 :]
        if x.ndim != first.ndim or rest != first.shape[:axis] + first.shape[axis + 1 :]:
            raise ShapeError(
                f"concat: shapes {[format_shape(x.shape) for x in xs]} differ off axis {axis}"
            )
        if not isinstance(x.shape[axis], int) or x.dtype != first.dtype:
            raise ShapeError(f"concat: axis {axis} of {x!r} must be an int dim, dtypes equal")
    total = builtins.sum(x.shape[axis] for x in xs)
    shape = first.shape[:axis] + (total,) + first.shape[axis + 1 :]
    return Node.make(Op.CONCAT, xs, shape, first.dtype, axis=axis)


def slice_axis(x: Node, axis: int, start: int, stop: int) -> Node:
    """``x[..., start:stop, ...]`` on one axis with an int dim."""
    x = _node(x, "slice_axis")
    axis = _axes(x, axis, "slice_axis")[0]
    dim = x.shape[axis]
    if not isinstance(dim, int) or not 0 <= start < stop <= dim:
        raise ShapeError(f"slice_axis: [{start}:{stop}] does not fit axis {axis} of {x!r}")
    if (start, stop) == (0, dim):
        return x
    shape = x.shape[:axis] + (stop - start,) + x.shape[axis + 1 :]
    return Node.make(Op.SLICE, (x,), shape, x.dtype, axis=axis, start=start, stop=stop)


# ---------------------------------------------------------------- composites


def logsumexp(x: Node, axis=-1) -> Node:
    """log(sum(exp(x))) over ``axis``, shifted by the max so it never overflows.

    The shift cancels in the value and in the gradient, so no gradient is taken through it.
    """
    x = _node(x, "logsumexp")
    axes = _axes(x, axis, "logsumexp")
    shift = stop_gradient(amax(x, axes))
    shifted = sub(x, keepdims(shift, x, axes))
    return mark_composite(add(shift, log(sum(exp(shifted), axes))), "logsumexp", (x,))


def log_softmax(x: Node, axis=-1) -> Node:
    x = _node(x, "log_softmax")
    axes = _axes(x, axis, "log_softmax")
    return mark_composite(sub(x, keepdims(logsumexp(x, axes), x, axes)), "log_softmax", (x,))


def softmax(x: Node, axis=-1) -> Node:
    x = _node(x, "softmax")
    return mark_composite(exp(log_softmax(x, axis)), "softmax", (x,))


def cross_entropy(logits: Node, labels: Node, reduction: str = "mean") -> Node:
    """Softmax cross-entropy of (N, C) logits against int labels (N,); mean over N.

    Computed as logsumexp(z) - z[label], which is stable for logits of any size.
    """
    logits, labels = _node(logits, "cross_entropy"), _node(labels, "cross_entropy")
    if logits.ndim == 1 and labels.ndim == 0:
        logits, labels = reshape(logits, (1,) + logits.shape), reshape(labels, (1,))
    per_example = sub(logsumexp(logits, -1), pick(logits, labels))
    reduce = {"mean": mean, "sum": sum, "none": lambda e: e}.get(reduction)
    if reduce is not None:
        return mark_composite(reduce(per_example), "cross_entropy", (logits, labels))
    raise IRError(f"cross_entropy: reduction {reduction!r} is not 'mean', 'sum' or 'none'")


# ---------------------------------------------------------------- operators on nodes


def _operators() -> dict:
    def flipped(fn):
        return lambda self, other: fn(other, self)

    return {
        "__add__": add, "__radd__": flipped(add), "__sub__": sub, "__rsub__": flipped(sub),
        "__mul__": mul, "__rmul__": flipped(mul), "__truediv__": div,
        "__rtruediv__": flipped(div), "__pow__": power, "__rpow__": flipped(power),
        "__matmul__": matmul, "__rmatmul__": flipped(matmul), "__neg__": neg, "__abs__": abs,
        "T": property(lambda self: transpose(self)),
    }


for _name, _method in _operators().items():  # x + y, x @ W, x.T build nodes through here
    setattr(Node, _name, _method)
