"""Gradient checking by central finite differences in float64 (JAX ``check_grads`` style).

Small inputs are checked element by element; large ones along a few fixed-seed random
directions, comparing the directional derivative with the gradient's inner product.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..ir import Node

FULL_CHECK_LIMIT = 4096  # elements per input checked one by one; above this, directions


def finite_difference_errors(
    value: Callable[..., float],
    grads: dict,
    inputs: dict,
    float_inputs: list[Node],
    eps: float = 1e-6,
    directions: int = 3,
) -> dict[str, float]:
    """Error ||grad - fd|| / max(||grad||, ||fd||, 1) per input, in float64.

    Relative for gradients of norm above 1, absolute below: a gradient that is truly zero
    meets finite-difference round-off (~1e-10), which is no error.
    """
    base = to_float64(inputs)
    rng = np.random.default_rng(0)
    errors: dict[str, float] = {}
    for node in float_inputs:
        name = node.name
        x = np.array(base[name], dtype=np.float64)
        analytic = np.asarray(as_dense(grads[name]), dtype=np.float64).reshape(x.shape)

        def shifted(delta):
            return value(**{**base, name: x + delta})

        if x.size <= FULL_CHECK_LIMIT:
            numeric = np.empty(x.size)
            for i in range(x.size):
                step = np.zeros(x.size)
                step[i] = eps
                step = step.reshape(x.shape)
                numeric[i] = (shifted(step) - shifted(-step)) / (2 * eps)
            got, want = analytic.ravel(), numeric
        else:
            got, want = np.empty(directions), np.empty(directions)
            for k in range(directions):
                direction = rng.standard_normal(x.shape)
                want[k] = (shifted(eps * direction) - shifted(-eps * direction)) / (2 * eps)
                got[k] = float(np.sum(analytic * direction))
        scale = max(np.linalg.norm(got), np.linalg.norm(want), 1.0)
        errors[name] = float(np.linalg.norm(got - want) / scale)
    return errors


def to_float64(inputs: dict) -> dict:
    """Float arrays and numbers as float64 arrays; int arrays untouched."""
    return {
        k: (np.asarray(v, dtype=np.float64) if np.asarray(v).dtype.kind == "f" else v)
        for k, v in inputs.items()
    }


def as_dense(g) -> np.ndarray:
    """A gradient as a full array (a RowGradient is expanded to its table's shape)."""
    return g.to_dense() if hasattr(g, "to_dense") else np.asarray(g)
