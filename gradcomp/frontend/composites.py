"""Composite functions built from the core ops, max-shifted so they stay finite for logits
of any size; each is marked (``ir.mark_composite``) so pictures can draw it as one box."""

from __future__ import annotations

from ..errors import IRError
from ..ir import Node, mark_composite
from .elementwise import add, exp, log, sub
from .inputs import _axes, _node
from .structure import amax, keepdims, mean, pick, reshape, stop_gradient, sum


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
