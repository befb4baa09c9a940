"""SymPy on both sides of gradcomp.

Elementwise functions are SymPy ``Lambda``s over canonical real symbols ``a0, a1, ...`` so the
same function is always the same object (and hash-conses to the same node). Their partial
derivatives come from ``sympy.diff``, simplified once and cached. ``from_sympy`` turns a SymPy
expression (scalars or matrix expressions) into a gradcomp graph, refusing anything else by name.
"""

from __future__ import annotations

import functools
from typing import Callable

import numpy as np
import sympy
from sympy.matrices.expressions.matexpr import MatrixElement

from . import __version__
from .errors import UnsupportedError

_ARGS = sympy.symbols("a0:16", real=True)
UPSTREAM = sympy.Symbol("g", real=True)  # the upstream adjoint in derivative lambdas
OUT = sympy.Symbol("out", real=True)  # the node's own value, reused by derivatives (tanh, exp)


def arg_symbols(count: int) -> tuple[sympy.Symbol, ...]:
    if count > len(_ARGS):
        raise UnsupportedError(f"elementwise functions take at most {len(_ARGS)} arguments")
    return _ARGS[:count]


def _drop_distributions(expr: sympy.Expr) -> sympy.Expr:
    # The derivative of a step is zero almost everywhere; DiracDelta has no numeric value.
    return expr.replace(sympy.DiracDelta, lambda *a: sympy.Integer(0))


@functools.lru_cache(maxsize=None)
def partial(fn: sympy.Lambda, index: int) -> sympy.Expr:
    """d fn / d arg[index], simplified; written in terms of ``OUT`` where that is cheaper.

    Where the function's own value appears in its derivative (tanh: 1 - tanh(a0)**2,
    exp: exp(a0)), the derivative is rewritten to reuse the forward value ``OUT`` instead of
    computing the transcendental again: the local gradient of the lecture, read off the
    stored forward result.

    ``sympy.simplify`` is slow (about 0.25 s for the window classifier's nine partials, most
    of it importing ``sympy.physics`` on first use), so results are kept in the kernel cache
    dir as ``srepr`` text, keyed by gradcomp and SymPy versions, the function and the index:
    a second process reads them back instead. The files are as trusted as the generated
    kernels beside them.
    """
    from .runtime.compile import cache_dir, source_key, write_atomic

    key = f"partial-v2 {__version__} {sympy.__version__} {sympy.srepr(fn)} {index}"
    path = cache_dir() / f"d_{source_key(key)}.txt"
    cached = _read_partial(path, key)
    if cached is not None:
        return cached
    derived = _derive_partial(fn, index)
    text = sympy.srepr(derived)
    try:  # the first line names what the second is: a file of another key or half written
        write_atomic(path, f"{source_key(key + text)}\n{text}")  # is seen to be damaged
    except OSError:
        pass  # a cache that cannot be written only costs the next process time
    return derived


def _read_partial(path, key: str) -> sympy.Expr | None:
    """The cached partial in ``path``, or None if it is missing or damaged (then warned)."""
    from .runtime.compile import source_key, warn_damaged

    try:
        check, text = path.read_bytes().decode("utf-8").split("\n", 1)
    except OSError:
        return None  # not cached yet
    except (UnicodeDecodeError, ValueError):
        check, text = "", ""
    if check == source_key(key + text):
        try:
            return sympy.sympify(text)
        except (sympy.SympifyError, SyntaxError, TypeError, ValueError):
            pass
    warn_damaged(path, "it does not hold the partial derivative it is named for")
    return None


def _derive_partial(fn: sympy.Lambda, index: int) -> sympy.Expr:
    symbols = fn.variables
    raw = _drop_distributions(sympy.diff(fn.expr, symbols[index]))
    plain = sympy.simplify(raw)
    if fn.expr.is_Atom or fn.expr.is_Add or fn.expr.is_Mul:
        return plain
    reused = sympy.simplify(raw.subs(fn.expr, OUT))
    if reused.has(OUT) and sympy.count_ops(reused) <= sympy.count_ops(plain):
        return reused
    return plain


_NUMPY_MODULE = [
    {
        "Heaviside": lambda x, at_zero=0.5: np.heaviside(x, at_zero),
        "Max": lambda *xs: functools.reduce(np.maximum, xs),
        "Min": lambda *xs: functools.reduce(np.minimum, xs),
    },
    "numpy",
]


@functools.lru_cache(maxsize=None)
def numpy_function(fn: sympy.Lambda) -> Callable:
    """The Lambda as a NumPy function (used by the reference interpreter)."""
    return sympy.lambdify(fn.variables, fn.expr, modules=_NUMPY_MODULE)


# ---------------------------------------------------------------- from_sympy

_SCALAR_FUNCTIONS = {
    sympy.exp: "exp",
    sympy.log: "log",
    sympy.sin: "sin",
    sympy.cos: "cos",
    sympy.tan: "tan",
    sympy.tanh: "tanh",
    sympy.Abs: "abs",
}


def _dims_of(matrix_symbol: sympy.MatrixSymbol) -> tuple:
    dims = []
    for d in matrix_symbol.shape:
        if isinstance(d, sympy.Integer):
            dims.append(int(d))
        elif isinstance(d, sympy.Symbol):
            dims.append(str(d))
        else:
            raise UnsupportedError(f"MatrixSymbol {matrix_symbol} has a dim {d} that is not a name or int")
    return tuple(dims)


def from_sympy(expr) -> "object":
    """The gradcomp graph of a SymPy expression; Symbols and MatrixSymbols become inputs.

    Supports numbers, Symbol, MatrixSymbol, +, -, *, /, **, exp, log, sin, cos, tan, tanh,
    sqrt, Abs, Max, Min, MatMul, MatAdd, Transpose and HadamardProduct. Anything else raises
    ``UnsupportedError`` naming the part that is not supported.
    """
    from . import frontend as F

    expr = sympy.sympify(expr)
    converted: dict[sympy.Basic, object] = {}
    stack = [(expr, False)]
    while stack:
        item, expanded = stack.pop()
        if item in converted:
            continue
        if not expanded:
            _check_supported(item)  # top-down, so the outermost unsupported part is named
        children = _children(item)
        if not expanded and children:
            stack.append((item, True))
            stack.extend((c, False) for c in reversed(children) if c not in converted)
            continue
        converted[item] = _convert(item, [converted[c] for c in children], F)
    result = converted[expr]
    if isinstance(result, (int, float)):
        return F.const(result)
    if result.shape == (1, 1):
        result = F.reshape(result, ())
    return result


_SUPPORTED = (
    sympy.MatrixSymbol, sympy.Symbol, sympy.Number, sympy.NumberSymbol, sympy.Add,
    sympy.MatAdd, sympy.Mul, sympy.HadamardProduct, sympy.HadamardPower, sympy.MatMul,
    sympy.Pow, sympy.Transpose, MatrixElement,
    sympy.Max, sympy.Min, *_SCALAR_FUNCTIONS,
)


def _check_supported(item) -> None:
    if not isinstance(item, _SUPPORTED):
        raise UnsupportedError(
            f"from_sympy does not support {type(item).__name__} (in {item}); supported: "
            "numbers, symbols, + - * / **, exp log sin cos tan tanh sqrt Abs Max Min, "
            "MatrixSymbol, MatMul, MatAdd, Transpose, HadamardProduct, HadamardPower, "
            "M[i, j] with int i, j"
        )
    if isinstance(item, MatrixElement) and not all(
            isinstance(k, sympy.Integer) for k in (item.i, item.j)):
        raise UnsupportedError(f"from_sympy takes matrix elements at int positions, got {item}")


def _children(item) -> tuple:
    if isinstance(item, (sympy.Symbol, sympy.MatrixSymbol, sympy.Number, sympy.NumberSymbol)):
        return ()
    if isinstance(item, MatrixElement):
        return (item.parent,)  # its positions are ints, read off the item
    return tuple(item.args)


def _convert(item, args: list, F):
    if isinstance(item, sympy.MatrixSymbol):
        return F.tensor(str(item.name), _dims_of(item))
    if isinstance(item, sympy.Symbol):
        return F.scalar(str(item.name))
    if isinstance(item, (sympy.Number, sympy.NumberSymbol)):
        if not item.is_real:
            raise UnsupportedError(f"the number {item} is not real")
        return float(item)
    if isinstance(item, sympy.MatMul):  # before Mul: MatMul subclasses it
        return functools.reduce(_matmul_or_scale(F), args)
    if isinstance(item, (sympy.Add, sympy.MatAdd)):
        return functools.reduce(F.add, args)
    if isinstance(item, (sympy.Mul, sympy.HadamardProduct)):
        return functools.reduce(F.mul, args)
    if isinstance(item, (sympy.Pow, sympy.HadamardPower)):
        return F.power(args[0], args[1])
    if isinstance(item, sympy.Transpose):
        return F.transpose(args[0])
    if isinstance(item, MatrixElement):  # M[i, j]: a 1x1 slice, as a scalar
        (i, j), matrix = (int(item.i), int(item.j)), args[0]
        if matrix.ndim != 2:
            raise UnsupportedError(f"from_sympy: {item} indexes {matrix!r}, not a matrix")
        row = F.slice_axis(F.slice_axis(matrix, 0, i, i + 1), 1, j, j + 1)
        return F.reshape(row, ())
    if isinstance(item, sympy.Max):
        return functools.reduce(F.maximum, args)
    if isinstance(item, sympy.Min):
        return functools.reduce(F.minimum, args)
    for function, name in _SCALAR_FUNCTIONS.items():
        if isinstance(item, function):
            return getattr(F, name)(args[0])
    raise AssertionError(f"unreachable: {type(item).__name__} passed _check_supported")


def _matmul_or_scale(F):
    def combine(a, b):
        if isinstance(a, (int, float)) or isinstance(b, (int, float)):
            return F.mul(a, b)
        if a.ndim == 0 or b.ndim == 0:
            return F.mul(a, b)
        return F.matmul(a, b)

    return combine
