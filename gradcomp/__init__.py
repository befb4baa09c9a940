"""gradcomp: a symbolic-to-numeric gradient compiler.

Write a loss with gradcomp's tensor ops (or as a SymPy expression), call ``gc.compile(loss)``,
and get one Numba function that computes the loss and every gradient in a single call.
"""

from .version import __version__

from .autodiff import grad
from .errors import (
    CacheWarning,
    CompileError,
    DataError,
    GradcompError,
    IndexRangeError,
    InputError,
    IRError,
    NotDifferentiableError,
    ShapeError,
    UnsupportedError,
)
from .frontend import (
    abs,
    add,
    amax,
    broadcast_to,
    concat,
    const,
    cos,
    cross_entropy,
    div,
    elementwise,
    exp,
    log,
    log_softmax,
    logsumexp,
    matmul,
    maximum,
    mean,
    minimum,
    mul,
    neg,
    pick,
    power,
    relu,
    reshape,
    scalar,
    scalars,
    scatter_add,
    sigmoid,
    sin,
    size,
    slice_axis,
    softmax,
    stop_gradient,
    sqrt,
    sub,
    sum,
    take,
    tan,
    tanh,
    tensor,
    transpose,
    unpick,
)
from .ir import Node, Op, dump, name
from .runtime.compiled import (
    CompiledForward,
    CompiledGradient,
    RowGradient,
    compile,
    compile_forward,
)
from .runtime.interp import interpret
from .from_sympy import from_sympy
from .testing import check_grad
from .viz import draw, to_dot

max = amax  # noqa: A001 - gc.max(x, axis) like jnp.max

__all__ = [name for name in dir() if not name.startswith("_")]
