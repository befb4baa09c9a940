"""The reference interpreter: any graph, evaluated node by node with NumPy.

It runs each op's reference from ``ops.py`` and nothing else, so it is the oracle every
compiled kernel is tested against and the "interpreted" side of every benchmark.
"""

from __future__ import annotations

import numpy as np

from ..autodiff.reverse import check_loss, grad, resolve_wrt, unused_inputs
from ..ir import Node, Op, toposort
from ..ops import OPS
from .signature import Bound, Signature


def evaluate(outputs: list[Node], bound: Bound, order: list[Node] | None = None) -> list:
    """The values of ``outputs`` for validated inputs, computed in ``bound.dtype``."""
    order = toposort(outputs) if order is None else order
    values: dict[int, object] = {}
    for node in order:
        if node.op is Op.INPUT:
            values[id(node)] = bound.arrays[node.name]
            continue
        args = [values[id(a)] for a in node.args]
        values[id(node)] = OPS[node.op].reference(node, args, bound.dims, bound.dtype)
    return [values[id(n)] for n in outputs]


def as_result(value, like: Node):
    """Scalars come back as Python floats, arrays as arrays of the input's shape."""
    return float(value) if like.shape == () else np.asarray(value)


class Interpreted:
    """A loss and its gradients, prepared once, evaluated by the interpreter per call."""

    def __init__(self, loss: Node, wrt=None, grads: list[Node] | None = None):
        self.loss = check_loss(loss)
        self.wrt = resolve_wrt(loss, wrt)
        self.grads = grad(loss, self.wrt) if grads is None else grads
        self.signature = Signature(unused_inputs(loss, self.wrt) + [loss] + self.grads)
        self.order = toposort([loss] + self.grads)
        self.value_order = toposort([loss])

    def __call__(self, **inputs) -> tuple[float, dict]:
        bound = self.signature.bind(inputs)
        value, *grads = evaluate([self.loss] + self.grads, bound, self.order)
        return float(value), {w.name: as_result(g, w) for w, g in zip(self.wrt, grads)}

    def value(self, **inputs) -> float:
        bound = self.signature.bind(inputs)
        return float(evaluate([self.loss], bound, self.value_order)[0])


def interpret(loss: Node, /, wrt=None, **inputs) -> tuple[float, dict]:
    """``(value, grads)`` of a scalar loss by the NumPy interpreter; grads keyed by input name."""
    return Interpreted(loss, wrt)(**inputs)
