"""One definition per core op: its arity and its NumPy reference semantics.

The references are the living definition of the IR: the interpreter runs them node by node,
and every generated kernel is tested against them. A reference gets the node (for its attrs
and shape), its argument values, the bound named dims and the float dtype of the call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .ir import Node, Op, dim_value
from .sympy_bridge import numpy_function


@dataclass(frozen=True)
class OpDef:
    arity: int | None  # None: any number of arguments
    reference: Callable[[Node, list, dict, type], object]


def concrete_shape(shape, dims: dict) -> tuple[int, ...]:
    return tuple(dim_value(d, dims) for d in shape)


def _map(node, args, dims, dtype):
    result = numpy_function(node.attr("fn"))(*args)
    return np.array(np.broadcast_to(result, concrete_shape(node.shape, dims)), dtype=dtype)


def _const(node, args, dims, dtype):
    return dtype(node.attr("value"))


def _size(node, args, dims, dtype):
    return dtype(np.prod([dims[d] for d in node.attr("dims")]))


def _broadcast(node, args, dims, dtype):
    return np.array(np.broadcast_to(args[0], concrete_shape(node.shape, dims)))


def _sum(node, args, dims, dtype):
    return dtype(1) * np.sum(args[0], axis=node.attr("axes"))


def _max(node, args, dims, dtype):
    return dtype(1) * np.max(args[0], axis=node.attr("axes"))


def _take(node, args, dims, dtype):
    return args[0][args[1]]


def _scatter_add(node, args, dims, dtype):
    values, index = args
    out = np.zeros(concrete_shape(node.shape, dims), dtype=dtype)
    np.add.at(out, index, values)
    return out


def _pick(node, args, dims, dtype):
    x, labels = args
    return x[np.arange(x.shape[0]), labels]


def _unpick(node, args, dims, dtype):
    g, labels = args
    out = np.zeros(concrete_shape(node.shape, dims), dtype=dtype)
    out[np.arange(g.shape[0]), labels] = g
    return out


def _slice(node, args, dims, dtype):
    index = [slice(None)] * node.args[0].ndim
    index[node.attr("axis")] = slice(node.attr("start"), node.attr("stop"))
    return args[0][tuple(index)]


OPS: dict[Op, OpDef] = {
    Op.INPUT: OpDef(0, lambda node, args, dims, dtype: None),  # bound by the caller
    Op.CONST: OpDef(0, _const),
    Op.SIZE: OpDef(0, _size),
    Op.MAP: OpDef(None, _map),
    Op.BROADCAST: OpDef(1, _broadcast),
    Op.MATMUL: OpDef(2, lambda node, args, dims, dtype: np.matmul(args[0], args[1])),
    Op.SUM: OpDef(1, _sum),
    Op.MAX: OpDef(1, _max),
    Op.TAKE: OpDef(2, _take),
    Op.SCATTER_ADD: OpDef(2, _scatter_add),
    Op.RESHAPE: OpDef(
        1, lambda node, args, dims, dtype: np.reshape(args[0], concrete_shape(node.shape, dims))
    ),
    Op.TRANSPOSE: OpDef(1, lambda node, args, dims, dtype: np.transpose(args[0], node.attr("perm"))),
    Op.PICK: OpDef(2, _pick),
    Op.UNPICK: OpDef(2, _unpick),
    Op.CONCAT: OpDef(None, lambda node, args, dims, dtype: np.concatenate(args, node.attr("axis"))),
    Op.SLICE: OpDef(1, _slice),
    Op.STOP_GRADIENT: OpDef(1, lambda node, args, dims, dtype: args[0]),
}
