"""The adjoint pass: the chain rule along the graph, in reverse topological order.

Seed the scalar output with 1; visit each node after all its users; ask its rule for the
contribution to each argument (downstream = upstream × local); add contributions that reach
the same node. Only nodes on a path from a ``wrt`` input to the output are visited, and
adjoints live in a dict, never on the nodes. The result is more IR, so it can be
differentiated again.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import frontend as F
from ..errors import IRError, NotDifferentiableError
from ..ir import FLOAT, Node, Op, check_unique_names, dump, format_shape, inputs_of, toposort
from .rules import NOT_DIFFERENTIABLE, RULES


def resolve_wrt(output: Node, wrt) -> list[Node]:
    """The input nodes named or given by ``wrt``; None means every float input."""
    inputs = inputs_of([output])
    check_unique_names(inputs)
    by_name = {n.name: n for n in inputs}
    if wrt is None:
        return [n for n in inputs if n.dtype == FLOAT]
    if isinstance(wrt, (str, Node)):
        wrt = [wrt]
    chosen: list[Node] = []
    for item in wrt:
        if isinstance(item, str):
            if item not in by_name:
                raise NotDifferentiableError(
                    f"wrt names {item!r}, which is not an input of the loss; "
                    f"its inputs are {sorted(by_name)}"
                )
            item = by_name[item]
        if not isinstance(item, Node) or item.op is not Op.INPUT:
            raise NotDifferentiableError(f"wrt must list inputs or their names, got {item!r}")
        if item.dtype != FLOAT:
            raise NotDifferentiableError(
                f"input {item.name!r} is an int64 array; gradients exist only for float inputs"
            )
        if item not in chosen:
            chosen.append(item)
    return chosen


def unused_inputs(output: Node, wrt: list[Node]) -> list[Node]:
    """The ``wrt`` inputs ``output`` does not read: accepted by calls, their gradient zeros."""
    used = set(inputs_of([output]))
    return [w for w in wrt if w not in used]


def check_loss(output) -> Node:
    if not isinstance(output, Node):
        raise NotDifferentiableError(f"the loss must be a gradcomp expression, got {output!r}")
    if output.shape != () or output.dtype != FLOAT:
        raise NotDifferentiableError(
            f"gradients are defined for a scalar float loss, got shape "
            f"{format_shape(output.shape)}; reduce it first, e.g. gc.sum(loss) or gc.mean(loss)"
        )
    return output


def grad(output: Node, wrt=None) -> list[Node]:
    """The gradient graphs d output / d w for each w in ``wrt`` (inputs or names).

    ``output`` must be a scalar. Inputs the output does not depend on get zeros.
    """
    output = check_loss(output)
    return gradients(output, resolve_wrt(output, wrt)).grads


@dataclass(frozen=True)
class Gradients:
    """The gradient graphs of a loss, with what each backward node is the gradient of."""

    grads: list[Node]  # per target, d output / d target
    adjoint_of: dict[int, Node]  # adjoint node id -> the primal it is the adjoint of
    flows: dict[int, tuple[Node, Node]]  # contribution id -> (user, argument) it flows along
    terms: dict[int, tuple[Node, ...]]  # target id -> the contributions its gradient adds up


def gradients(output: Node, targets: list[Node]) -> Gradients:
    """``grad`` with the adjoint map kept: which node is the gradient of which (nearest the
    output first, where one node is the adjoint of several), and along which edge each
    contribution flows back, and which contributions each target's gradient adds up."""
    adjoints, edges = backward(output, targets)
    grads = [adjoints.get(id(t), F.const(0.0, t.shape)) for t in targets]
    order = toposort([output])
    by_id = {id(n): n for n in order}
    adjoint_of: dict[int, Node] = {}
    for primal in reversed(order):
        if id(primal) in adjoints:
            adjoint_of.setdefault(id(adjoints[id(primal)]), primal)
    flows: dict[int, tuple[Node, Node]] = {}
    for (user, position), contribution in edges.items():  # nearest the output first
        if contribution is not adjoints.get(user):  # (passed on unchanged, as by add: the
            # rule that made it is further up)
            flows.setdefault(id(contribution), (by_id[user], by_id[user].args[position]))
    terms = {id(t): tuple(c for (user, position), c in edges.items()  # (in the order added)
                          if by_id[user].args[position] is t) for t in targets}
    return Gradients(grads, adjoint_of, flows, terms)


def backward(output: Node, targets: list[Node]) -> tuple[dict[int, Node], dict[tuple, Node]]:
    """The adjoint of every node on a path from ``targets`` to ``output``, and the
    contribution that flows back along each edge, keyed by (id(user), argument position)."""
    order = toposort([output])
    target_ids = {id(t) for t in targets}
    relevant: set[int] = set()
    for node in order:
        if id(node) in target_ids or any(id(a) in relevant for a in node.args):
            relevant.add(id(node))

    adjoints: dict[int, Node] = {id(output): F.const(1.0)}
    edges: dict[tuple, Node] = {}
    for node in reversed(order):
        upstream = adjoints.get(id(node))
        if upstream is None or id(node) not in relevant or node.op in NOT_DIFFERENTIABLE:
            continue
        rule = RULES.get(node.op)
        if rule is None:
            raise NotDifferentiableError(
                f"no gradient rule for op {node.op}; the graph:\n{dump(output)}"
            )
        contributions = rule(node, upstream)
        if len(contributions) != len(node.args):
            raise IRError(f"the {node.op} rule returned {len(contributions)} adjoints "
                          f"for {len(node.args)} arguments")
        for position, (arg, contribution) in enumerate(zip(node.args, contributions)):
            if contribution is None or id(arg) not in relevant:
                continue
            if contribution.shape != arg.shape:
                raise IRError(f"the {node.op} rule gave an adjoint of shape "
                              f"{format_shape(contribution.shape)} for {arg!r}")
            edges[(id(node), position)] = contribution
            previous = adjoints.get(id(arg))
            adjoints[id(arg)] = contribution if previous is None else F.add(previous, contribution)
    return adjoints, edges
