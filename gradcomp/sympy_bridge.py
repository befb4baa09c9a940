"""SymPy scalar functions: the elementwise maps of the IR, their partials and NumPy forms.

Elementwise functions are SymPy ``Lambda``s over canonical real symbols ``a0, a1, ...`` so the
same function is always the same object (and hash-conses to the same node). Their partial
derivatives come from ``sympy.diff``, simplified once and cached (in memory and in the kernel
cache dir). ``gradcomp.from_sympy`` turns whole SymPy expressions into graphs.
"""

from __future__ import annotations

import functools
from typing import Callable

import numpy as np
import sympy

from .cache import cache_dir, source_key, warn_damaged, write_atomic
from .errors import UnsupportedError
from .known_partials import KNOWN_PARTIALS
from .version import __version__

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

    ``sympy.simplify`` is slow (about 0.35 s for the window classifier's nine partials, most
    of it importing ``sympy.physics`` on first use), so the partials of the functions the
    front end's ops and models build ship with gradcomp (``known_partials.py``, re-derived
    and compared by the tests), and others are kept in the kernel cache dir as ``srepr``
    text, keyed by gradcomp and SymPy versions, the function and the index: a second process
    reads them back instead. The files are as trusted as the generated kernels beside them.
    """
    function = f"{sympy.srepr(fn)} {index}"
    shipped = KNOWN_PARTIALS.get(function)
    if shipped is not None:  # one of the front end's own functions: derived when it shipped
        return sympy.sympify(shipped)
    key = f"partial-v2 {__version__} {sympy.__version__} {function}"
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
