"""Inputs, constants and the checks every builder shares (shapes, dtypes, axes)."""

from __future__ import annotations

import math
from numbers import Real
from typing import Sequence

from ..errors import IRError, ShapeError
from ..ir import FLOAT, INT, Dim, Node, Op, Shape, broadcast_shapes, format_shape, product_dim

Operand = Node | Real


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
