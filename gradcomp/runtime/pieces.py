"""A long kernel's pieces at run time (``codegen/pieces.py``): compiled one after another.

The kernel is a plain Python function in the generated module that calls its pieces, each
an ``njit`` dispatcher of its own. ``PieceChain`` stands where a one-function kernel's
dispatcher stands: ``compile(types)`` compiles (or loads from Numba's cache) every piece in
order, each for the types the pieces before it return; ``overloads`` holds the argument types
every piece is compiled for; ``disable_compile`` passes to every piece, so that a call with
types not compiled raises ``TypeError`` in the first piece instead of compiling in the call.
"""

from __future__ import annotations

import types as pytypes
from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class ChainStats:
    """Numba's cache statistics, summed over the pieces (as ``Dispatcher.stats``)."""
    cache_hits: Counter
    cache_misses: Counter


class PieceChain:
    def __init__(self, module, function: str, pieces):
        self.pieces = pieces  # codegen.pieces.Piece, in call order
        self.dispatchers = [getattr(module, p.function) for p in pieces]
        self._call = getattr(module, function)
        code = self._call.__code__
        self.params = code.co_varnames[:code.co_argcount]  # the kernel's, in order
        self.overloads: dict[tuple, None] = {}  # the argument types compiled for
        plain = {**module.__dict__, **{p.function: d.py_func
                                       for p, d in zip(pieces, self.dispatchers)}}
        # the same kernel run by the Python interpreter: its pieces' plain functions
        self.py_func = pytypes.FunctionType(code, plain, function)

    def __call__(self, *args):
        return self._call(*args)

    @property
    def signatures(self) -> list[tuple]:
        return list(self.overloads)

    @property
    def stats(self) -> ChainStats:
        hits, misses = Counter(), Counter()
        for dispatcher in self.dispatchers:
            hits.update(dispatcher.stats.cache_hits)
            misses.update(dispatcher.stats.cache_misses)
        return ChainStats(hits, misses)

    def compile(self, types: tuple) -> None:
        known = dict(zip(self.params, types))
        for piece, dispatcher in zip(self.pieces, self.dispatchers):
            args = tuple(known[name] for name in piece.params)
            dispatcher.compile(args)
            returned = dispatcher.overloads[args].signature.return_type
            known.update(zip(piece.returns, returned.types))
        self.overloads[tuple(types)] = None

    def disable_compile(self, value: bool = True) -> None:
        for dispatcher in self.dispatchers:
            if dispatcher.signatures or not value:  # (Numba asks for one compiled first)
                dispatcher.disable_compile(value)
