"""What the emitter needs to know about the combined graph before writing a line.

The order (forward nodes first, then the backward half, each topological), how many users each
node has, which elementwise nodes are fused into their single user's loop, and which 2-D
transposes are folded into the ``matmul`` that uses them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ..ir import Node, Op, toposort

ELEMENTWISE = (Op.MAP, Op.BROADCAST)
MAX_FUSED_DEPTH = 8  # deeper chains are materialised, keeping lines (and recursion) short


@dataclass(frozen=True)
class Schedule:
    order: tuple[Node, ...]
    forward: frozenset[int]
    users: Mapping[int, tuple[Node, ...]]
    fused: frozenset[int] = frozenset()  # emitted inside their user's loop
    folded: frozenset[int] = frozenset()  # transposes passed to matmul as ``x.T``
    aliases: frozenset[int] = frozenset()  # a scalar reshaped to ones: the scalar
    roots: frozenset[int] = frozenset()  # the loss and the outputs

    def is_forward(self, node: Node) -> bool:
        return id(node) in self.forward


def make_schedule(loss: Node, outputs: list[Node], fuse: bool = True,
                  unused: list[Node] = ()) -> Schedule:
    """Schedule the loss and the output nodes; ``fuse=False`` names every node (debugging).

    ``unused`` inputs (read by no node) come first: they are parameters all the same.
    """
    forward_order = [n for n in unused if n.op is Op.INPUT] + toposort([loss])
    forward = {id(n) for n in forward_order}
    order = forward_order + [n for n in toposort(outputs) if id(n) not in forward]
    users: dict[int, list[Node]] = {id(n): [] for n in order}
    for node in order:
        for arg in node.args:
            users[id(arg)].append(node)
    roots = {id(loss)} | {id(n) for n in outputs}
    aliases = {
        id(n) for n in order
        if n.op is Op.RESHAPE and n.args[0].ndim == 0 and id(n) not in roots
        and all(u.op in ELEMENTWISE + (Op.SUM, Op.MAX) for u in users[id(n)])}
    fused, folded = _choose_fusion(order, users, roots) if fuse else (set(), set())
    return Schedule(tuple(order), frozenset(forward),
                    MappingProxyType({k: tuple(v) for k, v in users.items()}),
                    frozenset(fused), frozenset(folded), frozenset(aliases), frozenset(roots))


def _choose_fusion(order, users, roots: set[int]) -> tuple[set[int], set[int]]:
    """The elementwise nodes fused into their single user's loop, and the transposes folded
    into the product that reads them."""
    fused, folded = set(), set()
    depth: dict[int, int] = {}
    for node in order:
        node_users = users[id(node)]
        if id(node) in roots or not node_users:
            continue
        if node.op is Op.BROADCAST and all(_loop_shape(u, node) == node.shape for u in node_users):
            # A broadcast only re-indexes its argument: read through it in every user's loop.
            fused.add(id(node))
            depth[id(node)] = depth.get(id(node.args[0]), 0)
            continue
        if len(node_users) != 1:
            continue
        user = node_users[0]
        if node.op in ELEMENTWISE and node.ndim > 0:
            if _loop_shape(user, node) == node.shape:
                own = 1 + max((depth.get(id(a), 0) for a in node.args), default=0)
                if own <= MAX_FUSED_DEPTH:
                    fused.add(id(node))
                    depth[id(node)] = own
        elif node.op is Op.TRANSPOSE and node.ndim == 2 and user.op is Op.MATMUL:
            folded.add(id(node))
    return fused, folded


def _loop_shape(user: Node, arg: Node):
    """The shape of the loop in which ``user`` reads ``arg``, if it is a fusing user."""
    if user.op in ELEMENTWISE:
        return user.shape
    if user.op in (Op.SUM, Op.MAX):
        return arg.shape
    return None
