"""Vector-Jacobian rules, one small entry per core op.

A rule gets the node and its upstream adjoint ``g`` (same shape as the node) and returns one
adjoint contribution per argument, or ``None`` where the argument gets nothing (indices,
labels). Rules build IR through the front end, so gradients are graphs too and can be
differentiated again. Each contribution has exactly its argument's shape: broadcasting is
undone here by summing over the broadcast dims.
"""

from __future__ import annotations

import functools
from typing import Callable, Optional

import sympy

from .. import frontend as F
from ..ir import Node, Op, product_dim
from ..sympy_bridge import OUT, UPSTREAM, arg_symbols, partial

Rule = Callable[[Node, Node], tuple[Optional[Node], ...]]
RULES: dict[Op, Rule] = {}
# Leaves pass nothing back; stop_gradient passes nothing back on purpose.
NOT_DIFFERENTIABLE = frozenset({Op.INPUT, Op.CONST, Op.SIZE, Op.STOP_GRADIENT})


def vjp(op: Op) -> Callable[[Rule], Rule]:
    def register(rule: Rule) -> Rule:
        RULES[op] = rule
        return rule

    return register


def unbroadcast(g: Node, shape: tuple) -> Node:
    """Sum ``g`` over the dims that broadcasting added, giving it ``shape``."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = list(range(lead)) + [
        lead + i for i, d in enumerate(shape) if d == 1 and g.shape[lead + i] != 1
    ]
    return F.reshape(F.sum(g, tuple(axes)), shape)


@functools.lru_cache(maxsize=8192)
def _local_body(fn: sympy.Lambda, index: int) -> sympy.Expr | None:
    """upstream × d fn / d arg[index] over (args..., out, g) renamed a0, a1, ...; None if 0."""
    local = partial(fn, index)
    if local == 0:
        return None
    symbols = list(fn.variables) + [OUT, UPSTREAM]
    canonical = arg_symbols(len(symbols))
    return (UPSTREAM * local).xreplace(dict(zip(symbols, canonical)))


@vjp(Op.MAP)
def _map(node: Node, g: Node):
    """Local gradient from sympy.diff: upstream × d fn / d arg, reusing the output if it can."""
    fn = node.attr("fn")
    nodes = list(node.args) + [node, g]
    contributions = []
    for index, arg in enumerate(node.args):
        body = _local_body(fn, index)
        if body is None:
            contributions.append(None)
            continue
        label = f"{node.label}_grad" if len(node.args) == 1 else f"{node.label}_grad{index}"
        # A local gradient of 1 leaves g itself: "+ distributes the upstream gradient".
        contributions.append(unbroadcast(F.map_expr(body, nodes, label), arg.shape))
    return tuple(contributions)


@vjp(Op.BROADCAST)
def _broadcast(node, g):
    return (unbroadcast(g, node.args[0].shape),)


@vjp(Op.MATMUL)
def _matmul(node, g):
    a, b = node.args
    if a.ndim > 2 and b.ndim > 2:  # one product per batch element
        return F.matmul(g, F.swap_last(b)), F.matmul(F.swap_last(a), g)
    if a.ndim > 2:  # rows of a times b: b's adjoint sums over every row, one product
        da = F.matmul(g, F.transpose(b)) if b.ndim == 2 else \
            F.mul(F.reshape(g, g.shape + (1,)), b)
        g_rows = F.rows(g) if b.ndim == 2 else F.reshape(g, (product_dim(*g.shape),))
        return da, F.matmul(F.transpose(F.rows(a)), g_rows)
    if a.ndim == 2 and b.ndim == 2:
        return F.matmul(g, F.transpose(b)), F.matmul(F.transpose(a), g)
    if a.ndim == 2:  # (m, k) @ (k,) -> (m,)
        da = F.mul(F.reshape(g, (a.shape[0], 1)), F.reshape(b, (1, b.shape[0])))
        return da, F.matmul(F.transpose(a), g)
    if b.ndim == 2:  # (k,) @ (k, n) -> (n,)
        db = F.mul(F.reshape(a, (a.shape[0], 1)), F.reshape(g, (1, b.shape[1])))
        return F.matmul(b, g), db
    return F.mul(g, b), F.mul(g, a)  # dot product of vectors


@vjp(Op.SUM)
def _sum(node, g):
    x = node.args[0]
    return (F.broadcast_to(F.keepdims(g, x, node.attr("axes")), x.shape),)


def _argmax_mask(a, m):
    return sympy.Piecewise((1, sympy.Eq(a, m)), (0, True))


@vjp(Op.MAX)
def _max(node, g):
    """max routes the upstream gradient to the winner (shared equally between ties)."""
    x = node.args[0]
    axes = node.attr("axes")
    mask = F.elementwise(_argmax_mask, x, F.keepdims(node, x, axes), label="is_max")
    count = F.sum(mask, axes)
    share = F.div(g, count)
    return (F.mul(mask, F.keepdims(share, x, axes)),)


@vjp(Op.TAKE)
def _take(node, g):
    table, index = node.args
    return F.scatter_add(g, index, table.shape[0]), None


@vjp(Op.SCATTER_ADD)
def _scatter_add(node, g):
    return F.take(g, node.args[1]), None


@vjp(Op.RESHAPE)
def _reshape(node, g):
    return (F.reshape(g, node.args[0].shape),)


@vjp(Op.TRANSPOSE)
def _transpose(node, g):
    perm = node.attr("perm")
    inverse = tuple(sorted(range(len(perm)), key=lambda i: perm[i]))
    return (F.transpose(g, inverse),)


@vjp(Op.PICK)
def _pick(node, g):
    x, labels = node.args
    return F.unpick(g, labels, x.shape[1]), None


@vjp(Op.UNPICK)
def _unpick(node, g):
    return F.pick(g, node.args[1]), None


@vjp(Op.CONCAT)
def _concat(node, g):
    axis = node.attr("axis")
    parts, start = [], 0
    for x in node.args:
        stop = start + x.shape[axis]
        parts.append(F.slice_axis(g, axis, start, stop))
        start = stop
    return tuple(parts)


@vjp(Op.SLICE)
def _slice(node, g):
    x = node.args[0]
    axis, start, stop = node.attr("axis"), node.attr("start"), node.attr("stop")
    pieces = []
    for lo, hi in ((0, start), (stop, x.shape[axis])):
        if hi > lo:
            shape = x.shape[:axis] + (hi - lo,) + x.shape[axis + 1 :]
            pieces.append(F.const(0.0, shape))
    if start > 0:
        pieces.insert(1, g)
    else:
        pieces.insert(0, g)
    return (F.concat(pieces, axis),)
