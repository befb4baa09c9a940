"""The user-facing builders. They check shapes and dtypes, then make interned nodes.

Contract: every function here takes nodes (or Python numbers, where a scalar makes sense) and
returns a node; nothing is computed. Elementwise functions become one ``map`` node holding a
SymPy ``Lambda``; Python numbers are folded into that Lambda instead of becoming nodes.
Composite functions (``mean``, ``logsumexp``, ``softmax``, ``cross_entropy``) are built from
the core ops and are max-shifted, so they stay finite for logits of any size.
"""

from __future__ import annotations

from ..ir import Node
from .composites import cross_entropy, log_softmax, logsumexp, softmax
from .elementwise import (abs, add, cos, div, elementwise, exp, log, map_expr, maximum, minimum,
                          mul, neg, power, relu, sigmoid, sin, size, sqrt, sub, tan, tanh)
from .inputs import broadcast_to, const, scalar, scalars, tensor
from .structure import (amax, concat, keepdims, matmul, mean, pick, reshape, rows, scatter_add,
                        slice_axis, stop_gradient, sum, swap_last, take, transpose, unpick)

def _operators() -> dict:
    def flipped(fn):
        return lambda self, other: fn(other, self)

    return {
        "__add__": add, "__radd__": flipped(add), "__sub__": sub, "__rsub__": flipped(sub),
        "__mul__": mul, "__rmul__": flipped(mul), "__truediv__": div,
        "__rtruediv__": flipped(div), "__pow__": power, "__rpow__": flipped(power),
        "__matmul__": matmul, "__rmatmul__": flipped(matmul), "__neg__": neg, "__abs__": abs,
        "T": property(lambda self: transpose(self)),
    }


for _name, _method in _operators().items():  # x + y, x @ W, x.T build nodes through here
    setattr(Node, _name, _method)

__all__ = [
    "abs", "add", "amax", "broadcast_to", "concat", "const", "cos", "cross_entropy", "div",
    "elementwise", "exp", "keepdims", "log", "log_softmax", "logsumexp", "map_expr", "matmul",
    "maximum", "mean", "minimum", "mul", "neg", "pick", "power", "relu", "reshape", "rows",
    "scalar", "scalars", "scatter_add", "sigmoid", "sin", "size", "slice_axis", "softmax",
    "sqrt", "stop_gradient", "sub", "sum", "swap_last", "take", "tan", "tanh", "tensor",
    "transpose", "unpick",
]
