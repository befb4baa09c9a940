"""Scalar SymPy expressions printed as Numba-compatible Python.

Built on SymPy's ``PythonCodePrinter`` (``math.*`` functions, ``max``/``min``, conditional
expressions for ``Heaviside`` and ``Piecewise``). Arguments are printed as placeholders and then
replaced by the access strings the emitter chose (``x[i0, i1]``, a scalar name, an inlined
subexpression), so no user text ever passes through the printer.
"""

from __future__ import annotations

import functools
import re

import sympy
from sympy.printing.pycode import PythonCodePrinter


class _KernelPrinter(PythonCodePrinter):
    def _print_tanh(self, expr):
        return f"tanh({self._print(expr.args[0])})"  # gradcomp.runtime.helpers.tanh

    def _print_Heaviside(self, expr):
        # The value 1/2 at 0 matches sympy.Heaviside and the central finite difference.
        x = self._print(expr.args[0])
        return f"(1.0 if {x} > 0 else (0.5 if {x} == 0 else 0.0))"

    def _print_Rational(self, expr):
        return repr(float(expr))

    def _print_Integer(self, expr):
        return repr(float(expr)) if abs(int(expr)) > 2**53 else str(int(expr))

    def _print_Pow(self, expr, rational=False):
        base, exponent = expr.args
        if exponent == 2:
            b = self.parenthesize(base, 100)
            return f"({b} * {b})"
        if exponent == -1:
            return f"(1.0 / {self.parenthesize(base, 100)})"
        return super()._print_Pow(expr, rational)


_PLACEHOLDER = re.compile(r"_p(\d+)_")


def print_scalar(expr: sympy.Expr, args: list[str]) -> str:
    """``expr`` over symbols a0, a1, ... printed with each ai replaced by ``args[i]``."""
    return _PLACEHOLDER.sub(lambda m: _wrap(args[int(m.group(1))]), _template(expr))


@functools.lru_cache(maxsize=4096)
def _template(expr: sympy.Expr) -> str:
    """``expr`` printed once with placeholders for its arguments (a graph has few distinct
    scalar functions and many steps that apply them: printing was most of a large build)."""
    symbols = sorted(expr.free_symbols, key=lambda s: s.name)
    placeholders = {s: sympy.Symbol(f"_p{s.name[1:]}_", real=True) for s in symbols}
    return _KernelPrinter({"standard": "python3", "fully_qualified_modules": True}).doprint(
        expr.xreplace(placeholders))


def _wrap(access: str) -> str:
    """Parenthesise an inlined subexpression so operator precedence is kept."""
    simple = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\[[^\[\]]*\])?|-?[0-9.e+-]+", access)
    return access if simple else f"({access})"
