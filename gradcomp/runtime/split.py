"""A large batch on both cores: the rows of a tiled kernel split in two halves.

A tiled kernel can also be written as three functions (``codegen/stages.py``): ``prepare``
(checks, what depends on no row, zeroed sums), ``rows(first, last)`` (the tiles, adding into
the sums) and ``finish``. For a batch of at least ``SPLIT_ROWS`` rows, ``SplitCall`` runs
``prepare``, then the two halves of the rows at once, one on a worker thread with sums of its
own, adds the second half's sums into the first's, and runs ``finish``. During the halves
NumPy's OpenBLAS runs each product on the thread that calls it, so there is one thread per
core and no BLAS pool spinning beside them; BLAS's own threading is restored afterwards.

That module is generated and compiled only when the first such batch comes (in the
background, the one-function kernel answering until it is ready; in the call with
``block``). Measured on the window classifier (2 cores, one process, interleaved with pauses):
float32 B = 4096 5.9 ms against 7.4 ms in one thread, B = 512 0.83 against 0.93 ms; at
B = 256 the two were equal. The results are the one-thread results up to the order of the
additions in the sums (float rounding). ``GRADCOMP_THREADS=1`` keeps every call on one thread.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from ..codegen.tiling import TILE_ROWS
from .background import Background, NotReady
from .blas import single_threaded_blas
from .compile import compile_types, load_module

SPLIT_ROWS = 512  # measured: below this the thread hand-off costs as much as it gains
_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gradcomp-rows")
    return _POOL


class SplitCall:
    """The staged module of one tiled kernel, made on first use, and its two-thread call."""

    def __init__(self, make_source, rows_at: tuple[int, int], block: bool):
        self._make = make_source  # () -> the staged KernelSource
        self.rows_at = rows_at  # (argument, axis) holding the rows
        self.block = block
        self.background = Background()
        self._lock = threading.Lock()
        self._stages = None  # prepare, rows, finish dispatchers
        self.private: list[int] = []  # arguments each half has its own copy of (the sums)
        self._ready: set = set()  # argument dtypes compiled for
        self._failed = False

    @staticmethod
    def available() -> bool:
        return single_threaded_blas.available and int(os.environ.get("GRADCOMP_THREADS", 2)) > 1

    def wants(self, args: tuple) -> bool:
        """Whether this call is split: enough rows, and the stages compiled for its types
        (the first such call starts compiling them and is not split)."""
        position, axis = self.rows_at
        if self._failed or args[position].shape[axis] < SPLIT_ROWS:
            return False
        key = tuple(a.dtype for a in args if isinstance(a, np.ndarray))
        if key in self._ready:
            return True
        types = tuple(numba.typeof(a) for a in args)
        try:
            if self.block:
                self.compile(types)
            else:
                self.background.ensure(types, self.compile)
        except NotReady as waiting:
            waiting.start()
            return False
        except Exception:  # noqa: BLE001 - the one-thread kernel serves instead
            self._failed = True
            return False
        self._ready.add(key)
        return True

    def compile(self, types: tuple) -> None:
        """Compile the three stages for the kernel's argument ``types``: the later ones take
        what the one before returns, so their types follow from its compiled signature."""
        with self._lock:
            if self._stages is None:
                spec = self._make()
                module = load_module(spec.source)
                self._stages = [getattr(module, f) for f in
                                (spec.stages.prepare, spec.stages.rows, spec.stages.finish)]
                names = list(spec.stages.arguments) + list(spec.stages.carried)
                self.private = [names.index(name) for name in spec.stages.private]
            prepare, rows, finish = self._stages
            compile_types(prepare, types)
            carried = tuple(prepare.overloads[types].signature.return_type)
            row_types = types + carried + (numba.types.int64, numba.types.int64)
            compile_types(rows, row_types)
            sums = tuple(rows.overloads[row_types].signature.return_type)
            compile_types(finish, types + carried + sums)

    def __call__(self, args: tuple) -> tuple:
        prepare, rows, finish = self._stages
        position, axis = self.rows_at
        total = args[position].shape[axis]
        # the first half's tiles, as many rows as the second's (or one more), in whole tiles
        # when that many rows make them
        half = min((total // 2 + TILE_ROWS - 1) // TILE_ROWS * TILE_ROWS, (total + 1) // 2)
        first = [*args, *prepare(*args)]
        second = list(first)
        for k in self.private:
            second[k] = np.zeros_like(first[k])
        with single_threaded_blas:
            other = _pool().submit(rows, *second, half, total)
            sums = rows(*first, 0, half)
            more = other.result()
        for k in self.private:
            first[k] += second[k]
        return finish(*first, *(a + b for a, b in zip(sums, more)))
