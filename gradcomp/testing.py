"""Checking gradients: ``check_grad`` (the interpreter against central finite differences).

The finite differences themselves live in ``runtime/finite_diff.py``, beside the compiled
function's own ``check``; ``as_dense`` and ``to_float64`` are re-exported for tests.
"""

from __future__ import annotations

from .ir import FLOAT, Node
from .runtime.finite_diff import as_dense, finite_difference_errors, to_float64
from .runtime.interp import Interpreted

__all__ = ["as_dense", "check_grad", "finite_difference_errors", "to_float64"]


def check_grad(loss: Node, /, wrt=None, eps: float = 1e-6, **inputs) -> float:
    """The largest relative error between interpreted gradients and finite differences."""
    interpreted = Interpreted(loss, wrt)
    interpreted.signature.bind(inputs)  # a bad input is named before anything is converted
    as64 = to_float64(inputs)
    _, grads = interpreted(**as64)
    float_inputs = [w for w in interpreted.wrt if w.dtype == FLOAT]
    errors = finite_difference_errors(interpreted.value, grads, as64, float_inputs, eps)
    return max(errors.values(), default=0.0)
