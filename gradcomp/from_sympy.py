"""``from_sympy``: a SymPy expression (scalars or matrix expressions) as a gradcomp graph.

Symbols and MatrixSymbols become inputs; anything not translated is refused by name.
"""

from __future__ import annotations

import functools

import sympy
from sympy.matrices.expressions.matexpr import MatrixElement

from . import frontend as F
from .errors import UnsupportedError


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
        converted[item] = _convert(item, [converted[c] for c in children])
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


def _convert(item, args: list):
    if isinstance(item, sympy.MatrixSymbol):
        return F.tensor(str(item.name), _dims_of(item))
    if isinstance(item, sympy.Symbol):
        return F.scalar(str(item.name))
    if isinstance(item, (sympy.Number, sympy.NumberSymbol)):
        if not item.is_real:
            raise UnsupportedError(f"the number {item} is not real")
        return float(item)
    if isinstance(item, sympy.MatMul):  # before Mul: MatMul subclasses it
        return functools.reduce(_matmul_or_scale, args)
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


def _matmul_or_scale(a, b):
    if isinstance(a, (int, float)) or isinstance(b, (int, float)) or a.ndim == 0 or b.ndim == 0:
        return F.mul(a, b)
    return F.matmul(a, b)
