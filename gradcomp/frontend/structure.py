"""Reductions, products, indexing and reshaping: the structural ops of the front end."""

from __future__ import annotations

import builtins
from typing import Sequence

from ..errors import IRError, ShapeError
from ..ir import FLOAT, INT, Dim, Node, Op, dims_product, format_shape, product_dim
from .elementwise import div, size
from .inputs import _axes, _check_shape, _node


def _reduction(op: Op, x, axis, what: str) -> Node:
    """``x`` reduced by ``op`` over ``axis`` (an int, a tuple, or None for all axes)."""
    x = _node(x, what)
    axes = _axes(x, axis, what)
    if not axes:
        return x
    shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
    return Node.make(op, (x,), shape, x.dtype, axes=axes)


def sum(x: Node, axis=None) -> Node:  # noqa: A001 - the NumPy name
    """Sum over ``axis`` (an int, a tuple, or None for all axes); the axes are removed."""
    return _reduction(Op.SUM, x, axis, "sum")


def mean(x: Node, axis=None) -> Node:
    x = _node(x, "mean")
    axes = _axes(x, axis, "mean")
    return div(sum(x, axes), size(*(x.shape[a] for a in axes)))


def amax(x: Node, axis=None) -> Node:
    """Max over ``axis``; ties share the upstream gradient equally."""
    return _reduction(Op.MAX, x, axis, "max")


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
